"""The socket side: a loopback ``ThreadingHTTPServer`` and a request handler that reads
bodies (chunked or not) and writes Graph-shaped JSON responses.

Kept apart from :class:`~emulator.server.GraphEmulator` so that what an answer means and
how its bytes reach the client can be read separately; the server hands every request to
the ``dispatch`` callback it was given.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import socketserver
import threading
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .graph.call import error_body

# Graph's own success content type; parameters after ';' trip naive equality checks.
GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
ERROR_JSON = "application/json"


def parse_json(raw: bytes) -> tuple[Any, bool]:
    """Return (value, invalid). Non-JSON bodies are kept as text for the request log."""
    if not raw.strip():
        return None, False
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text), False
    except ValueError:
        return text, True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], dispatch: Callable[[Handler], None]) -> None:
        self.dispatch = dispatch
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds on
        # machines with slow reverse DNS; a loopback server does not need it.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that give up (timeouts, dropped keep-alives) are normal here, not errors."""

    def close_connections(self) -> None:
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Server6(Server):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the body waits for
    # the client's delayed ACK (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "GraphEmulator/1.0"
    sys_version = ""
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines would put user keys and ids on stderr of every test run."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Protocol-level failures (bad request line, unknown verb) still get Graph's envelope."""
        request_id = str(uuid.uuid4())
        body = error_body(
            "BadRequest" if code < 500 else "NotImplemented",
            message or explain or "The request could not be understood.",
            request_id=request_id,
            client_request_id=request_id,
        )
        self.close_connection = True
        self.write(code, {"request-id": request_id, "client-request-id": request_id}, body)

    def _dispatch(self) -> None:
        self.server.dispatch(self)

    do_GET = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_DELETE = _dispatch
    do_OPTIONS = _dispatch

    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size_line = self.rfile.readline(65537).split(b";", 1)[0].strip()
                size = int(size_line or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537).strip():
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def write(
        self, status: int, headers: dict[str, str], body: Any, content_type: str | None = None
    ) -> None:
        """Send a JSON answer; its content type is Graph's unless ``content_type`` says."""
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            content_type = content_type or (ERROR_JSON if status >= 400 else GRAPH_JSON)
        try:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            if status not in (204, 304):
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if payload and self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


def check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError as exc:
        raise ValueError(f"host must be a loopback address, got {host!r}") from exc
    if not address.is_loopback:
        raise ValueError(f"the emulator only binds loopback addresses, not {host!r}")
    return str(address)
