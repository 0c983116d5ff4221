"""``python -m emulator``: serve the demo tenant until interrupted.

The ``NAME=value`` lines on stdout (one per setting of ``GraphEmulator.env()``) are meant to
be sourced or pasted into an app's settings; nothing else is printed there so a wrapper
script can parse them.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .demo import demo_tenant
from .graph.schedule import BATCH_ORDERS
from .server import GraphEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local Microsoft Graph v1.0 + managed identity emulator (demo tenant).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to bind")
    parser.add_argument("--port", type=int, default=0, help="port (0 = any free port)")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds every Graph round trip costs"
    )
    parser.add_argument(
        "--batch-order",
        choices=BATCH_ORDERS,
        default="array",
        help="order in which a $batch's independent items run",
    )
    args = parser.parse_args(argv)

    try:
        emulator = GraphEmulator(
            demo_tenant(),
            host=args.host,
            port=args.port,
            latency=args.latency,
            batch_order=args.batch_order,
        )
    except ValueError as exc:
        parser.error(str(exc))

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    with emulator:
        for name, value in emulator.env().items():
            sys.stdout.write(f"{name}={value}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
