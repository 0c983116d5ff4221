"""``python -m benchmarks`` (``make bench``): the reset-speed tables and the cold-start table.

Why an entry point of its own: the numbers take a minute and an emulator, Azurite and a dozen
subprocesses to produce, which is no part of ``make test``; and they are measurements to read,
not pass/fail checks. ``--quick`` is a smoke run (lower latency, one repetition, fewer sizes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from benchmarks import admission, import_time, report, reset_speed
from emulator.azurite import Azurite
from emulator.graph.schedule import BATCH_ORDERS


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text}"
        ) from None
    bad = [k for k in sizes if not 1 <= k <= len(reset_speed.METHOD_MIX)]
    if not sizes or bad:
        raise argparse.ArgumentTypeError(f"each k must be 1..{len(reset_speed.METHOD_MIX)}")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--latency", type=float, default=None, help="emulated seconds per Graph round trip (0.1)"
    )
    parser.add_argument("--repeat", type=int, default=None, help="runs per cell, median (3)")
    parser.add_argument("--k", type=_sizes, default=None, help="method counts (2,4,8)")
    parser.add_argument("--imports", type=int, default=None, help="subprocess runs per import (7)")
    parser.add_argument(
        "--batch-order",
        choices=BATCH_ORDERS,
        default="reverse",
        help="order the emulator runs a batch's items in (reverse: the app's worst case)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: latency 0.02, 1 run, k=2,8, 3 imports"
    )
    parser.add_argument("--skip-imports", action="store_true", help="no cold-start table")
    parser.add_argument(
        "--sweep-members", type=int, default=None, help="members of the swept group (5000)"
    )
    parser.add_argument("--skip-admission", action="store_true", help="no admission tables")
    args = parser.parse_args(argv)
    quick = args.quick
    defaults: dict[str, object] = {
        "latency": 0.02 if quick else 0.1,
        "repeat": 1 if quick else 3,
        "k": [2, 8] if quick else [2, 4, 8],
        "imports": 3 if quick else 7,
        "sweep_members": 200 if quick else 5000,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.repeat < 1 or args.imports < 1 or args.latency < 0:
        parser.error("--repeat and --imports must be >= 1, --latency >= 0")
    return args


async def _reset_tables(args: argparse.Namespace) -> None:
    rows = await reset_speed.measure(
        args.k, repeat=args.repeat, latency=args.latency, batch_order=args.batch_order
    )
    for n, by in enumerate(reset_speed.NAMED_BY, 1):
        print(
            f"Table 1{'ab'[n - 1]}: reset speed, user named by {by} "
            f"(emulated Graph latency {args.latency:g} s per round trip, batch order "
            f"{args.batch_order}, median of {args.repeat})"
        )
        print(report.render(rows, by))
        print()
    print(report.targets(rows))
    app = [r for r in rows if r.path == "app"]
    seen = sorted({req for r in app for x in r.runs for req in x.ledger_requests})
    print("  table requests the app sent during its resets: " + ", ".join(seen))
    print()


async def _admission_tables(args: argparse.Namespace) -> None:
    marks = (50, 200) if args.quick else (100, 1000, 2000)
    sample = 10 if args.quick else 50
    with Azurite() as storage:
        costs = await admission.admission_costs(storage, marks, sample)
        sweep = await admission.sweep_cost(storage, args.sweep_members)
    first = costs[0].ms_per_admission
    rows = [
        [str(c.in_window), f"{c.ms_per_admission:.1f}", f"{c.ms_per_admission / first:.2f}x"]
        for c in costs
    ]
    print(f"Table 3: admission cost as the window fills (Azurite, median of {sample})")
    print(report.table(rows, ["requests in the window", "ms per admission", f"vs {marks[0]}"]))
    last = costs[-1].ms_per_admission / first
    print(
        f"Target (from the issue; measured here, not asserted): the {marks[-1]}th costs at most "
        f"1.5x the {marks[0]}th: {last:.2f}x -> {'met' if last <= 1.5 else 'NOT MET'}"
    )
    print()
    print(
        "Table 4: a scheduled group sweep, its pages admitted one after another (emulator, Azurite)"
    )
    per_member = sweep.seconds / sweep.members * 1000
    row = [
        str(sweep.members),
        str(sweep.pages),
        str(sweep.queued),
        f"{sweep.run_seconds:.1f}",
        f"{sweep.slowest_page_seconds:.1f}",
        f"{sweep.seconds:.1f}",
        f"{per_member:.1f}",
    ]
    header = ["members", "pages", "accepted", "run s", "slowest page s", "all s", "ms/member"]
    print(report.table([row], header))
    print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    asyncio.run(_reset_tables(args))
    if not args.skip_admission:
        asyncio.run(_admission_tables(args))
    if not args.skip_imports:
        baseline, app = import_time.measure(args.imports)
        rows, header, target = import_time.render(baseline, app)
        print(f"Table 2: cold start, import time in a fresh interpreter (median of {args.imports})")
        print(report.table(rows, header))
        print()
        print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
