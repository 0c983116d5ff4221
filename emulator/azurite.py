"""Azurite, the Azure Storage emulator, run from the project's own ``node_modules``.

The queue and table code is tested against a real storage service rather than mocks, so
encoding, visibility and dequeue-count behaviour come from the service, not from our own
idea of it. Each instance listens on free loopback ports and keeps everything in memory,
so parallel runs and leftover data from earlier runs cannot interfere.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import IO

# npm installs Azurite into the repository's node_modules (package.json pins it).
AZURITE_BIN = Path(__file__).resolve().parent.parent / "node_modules" / ".bin" / "azurite"


LOOPBACK = "127.0.0.1"
# The emulator's fixed development account; the key is public and documented by Microsoft.
ACCOUNT_NAME = "devstoreaccount1"
ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 10.0
_LOG_TAIL_CHARS = 4000
_START_ATTEMPTS = 3


class AzuriteError(RuntimeError):
    """Azurite is missing or did not come up; a test run without storage must fail loudly."""


class _PortTaken(AzuriteError):
    pass


def _free_ports(count: int) -> list[int]:
    """Ask the OS for distinct free ports; the sockets stay open until all are picked so
    the same port cannot be handed out twice."""
    with contextlib.ExitStack() as stack:
        ports: list[int] = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((LOOPBACK, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            return True
    except OSError:
        return False


class Azurite:
    """One Azurite process serving blob, queue and table on three free loopback ports."""

    def __init__(
        self,
        *,
        binary: Path = AZURITE_BIN,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ) -> None:
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.blob_port = 0
        self.queue_port = 0
        self.table_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._log: IO[bytes] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Azurite:
        if self._process is not None:
            raise AzuriteError("Azurite is already running")
        if not os.access(self.binary, os.X_OK):
            raise AzuriteError(
                f"Azurite is not installed ({self.binary} is missing). "
                "Run `npm ci` in the repository root (or `make test`, which does it)."
            )
        for attempt in range(1, _START_ATTEMPTS + 1):
            try:
                self._launch()
                return self
            except _PortTaken:
                # Another process took a port between our probe and Azurite's bind.
                if attempt == _START_ATTEMPTS:
                    raise AzuriteError(
                        f"Azurite could not bind free ports in {_START_ATTEMPTS} attempts"
                    ) from None
        raise AssertionError("unreachable")

    def _launch(self) -> None:
        self.blob_port, self.queue_port, self.table_port = _free_ports(3)
        self._workdir = tempfile.TemporaryDirectory(prefix="azurite-")
        workdir = Path(self._workdir.name)
        # Azurite refuses --location together with --inMemoryPersistence, so the scratch
        # directory is its working directory instead: anything it might still write lands
        # there and goes away with it. The log is a file, not a pipe: nobody reads it while
        # Azurite runs, and a full pipe would block it.
        self._log = (workdir / "azurite.log").open("w+b")
        command = [
            str(self.binary),
            "--silent",
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--skipApiVersionCheck",
            "--loose",
            "--blobHost",
            LOOPBACK,
            "--blobPort",
            str(self.blob_port),
            "--queueHost",
            LOOPBACK,
            "--queuePort",
            str(self.queue_port),
            "--tableHost",
            LOOPBACK,
            "--tablePort",
            str(self.table_port),
        ]
        try:
            self._process = subprocess.Popen(  # noqa: S603 - our own pinned binary, fixed args
                command,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
            )
        except OSError as exc:
            self._cleanup_files()
            raise AzuriteError(f"could not start Azurite ({self.binary}): {exc}") from exc
        try:
            self._wait_until_listening()
        except BaseException:
            self.stop()
            raise

    def _wait_until_listening(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.startup_timeout
        pending = [self.blob_port, self.queue_port, self.table_port]
        while True:
            # Checked even after every port answers: a port taken by another process answers
            # too, while Azurite itself exits on the failed bind.
            if process.poll() is not None:
                output = self.output()
                if "EADDRINUSE" in output:
                    raise _PortTaken(output)
                raise AzuriteError(
                    f"Azurite exited with status {process.returncode} before listening:\n{output}"
                )
            if not pending:
                return
            pending = [port for port in pending if not _accepts_connections(port)]
            if not pending:
                # One more liveness check on the next pass, after a short settle.
                time.sleep(0.05)
                continue
            if time.monotonic() > deadline:
                raise AzuriteError(
                    f"Azurite did not listen on ports {pending} within "
                    f"{self.startup_timeout:g} s:\n{self.output()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._cleanup_files()

    def _cleanup_files(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            log.close()
        workdir, self._workdir = self._workdir, None
        if workdir is not None:
            workdir.cleanup()

    def __enter__(self) -> Azurite:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- introspection ---------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def output(self) -> str:
        """The tail of what Azurite printed, for error messages."""
        if self._log is None:
            return "(no output captured)"
        self._log.flush()
        self._log.seek(0)
        text = self._log.read().decode("utf-8", errors="replace")
        self._log.seek(0, os.SEEK_END)
        return text[-_LOG_TAIL_CHARS:] or "(no output)"

    def _endpoint(self, port: int) -> str:
        if not port:
            raise AzuriteError("Azurite has not been started")
        return f"http://{LOOPBACK}:{port}/{ACCOUNT_NAME}"

    @property
    def blob_endpoint(self) -> str:
        return self._endpoint(self.blob_port)

    @property
    def queue_endpoint(self) -> str:
        return self._endpoint(self.queue_port)

    @property
    def table_endpoint(self) -> str:
        return self._endpoint(self.table_port)

    @property
    def connection_string(self) -> str:
        """Explicit endpoints rather than ``UseDevelopmentStorage=true``, which would point
        the SDKs at the default ports instead of this instance's."""
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT_NAME};"
            f"AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={self.blob_endpoint};"
            f"QueueEndpoint={self.queue_endpoint};"
            f"TableEndpoint={self.table_endpoint};"
        )
