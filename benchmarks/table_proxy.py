"""A counting HTTP proxy in front of Azurite's table port: how many ledger writes a reset sends.

The ledger's ``TableClient`` is built inside ``shared.ledger`` and its per-call hooks cannot be
reached without editing the app, and wrapping the ledger's private table object would tie the
benchmark to internals that are being changed. So the benchmark counts on the wire instead: the
app's ``RESET_STORAGE`` connection string points its table endpoint here, and this proxy forwards
every request to Azurite unchanged (Shared Key signatures cover the path, not the host), recording
its method and path. A write is any request that is not a read (``GET``/``HEAD``): insert
(``POST /{table}``), upsert/replace (``PUT``), merge (``MERGE``, or ``POST`` with
``X-HTTP-Method: MERGE``), ``PATCH``, ``DELETE`` and an entity-group transaction
(``POST /$batch``, counted once however many entities it carries). Creating the table
(``POST /Tables``) is set-up, not a ledger write, and is counted apart.

The proxy adds a loopback hop (well under a millisecond a request) to the app's timings only,
which is on the app's side of the comparison.
"""

from __future__ import annotations

import contextlib
import http.client
import socketserver
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

_LOOPBACK = "127.0.0.1"
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}
)
_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class TableRequest:
    """One request the app sent to Table Storage, and Azurite's status for it."""

    method: str
    path: str
    status: int

    @property
    def is_setup(self) -> bool:
        return self.method == "POST" and self.path.split("?", 1)[0].rstrip("/").endswith("/Tables")

    @property
    def is_write(self) -> bool:
        return self.method not in _READS and not self.is_setup

    def describe(self) -> str:
        """``METHOD target status``: the target is ``$batch``, ``Tables``, ``entity`` (an
        addressed row) or ``query``/``insert`` on the table itself."""
        path = self.path.split("?", 1)[0].rstrip("/")
        last = path.rsplit("/", 1)[-1]
        if last in ("$batch", "Tables"):
            target = last
        elif last.endswith(")") and not last.endswith("()"):
            target = "entity"
        else:
            target = "query" if self.method in _READS else "insert"
        return f"{self.method} {target} {self.status}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, proxy: CountingTableProxy) -> None:
        self.proxy = proxy
        super().__init__((_LOOPBACK, 0), _Handler)

    def server_bind(self) -> None:
        # Skip HTTPServer's reverse DNS lookup of the host name: loopback needs none.
        socketserver.TCPServer.server_bind(self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing a keep-alive connection is normal here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server
    _upstream: http.client.HTTPConnection | None = None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the counts are the output."""

    def _forward(self) -> None:
        proxy = self.server.proxy
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        if self._upstream is None:
            self._upstream = http.client.HTTPConnection(_LOOPBACK, proxy.upstream_port, timeout=60)
        try:
            self._upstream.request(self.command, self.path, body=body, headers=headers)
            response = self._upstream.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException):
            self._upstream.close()
            self._upstream = None
            raise
        override = (self.headers.get("X-HTTP-Method") or "").upper()
        method = override if self.command == "POST" and override else self.command
        proxy.record(TableRequest(method, self.path, response.status))
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if content and self.command != "HEAD":
            self.wfile.write(content)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        if self._upstream is not None:
            self._upstream.close()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_MERGE = do_OPTIONS = _forward


class CountingTableProxy:
    """Forwards loopback HTTP to ``upstream_port`` and keeps the list of requests it carried."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._lock = threading.Lock()
        self._requests: list[TableRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> CountingTableProxy:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="table-proxy",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> CountingTableProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the proxy is not running")
        return int(self._server.server_address[1])

    def record(self, request: TableRequest) -> None:
        with self._lock:
            self._requests.append(request)

    @property
    def requests(self) -> list[TableRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def writes(self) -> list[TableRequest]:
        return [r for r in self.requests if r.is_write]


def proxied_connection_string(connection_string: str, account_name: str, port: int) -> str:
    """``connection_string`` with its TableEndpoint sent through the proxy on ``port``."""
    parts = [p for p in connection_string.split(";") if p and not p.startswith("TableEndpoint=")]
    parts.append(f"TableEndpoint=http://{_LOOPBACK}:{port}/{account_name}")
    return ";".join(parts) + ";"
