"""The HTTP side: a loopback ``ThreadingHTTPServer`` serving Graph v1.0 under ``/v1.0`` and
an App Service style managed-identity token endpoint under ``/msi/token``.

Tokens are opaque random strings that only this process recognises, so code under test
must really obtain one through ``IDENTITY_ENDPOINT``/``IDENTITY_HEADER`` (the way
``azure-identity`` does in an Azure Function) and really send it to Graph.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import secrets
import socket
import socketserver
import threading
import time
import uuid
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl

from ._common import GRAPH_APP_ID, GRAPH_RESOURCE, GraphError
from .entra import EntraTokens
from .faults import Fault, FaultList
from .graph import (
    MAX_PAGE,
    GraphCall,
    GraphResult,
    GraphService,
    error_body,
    fault_error,
    make_call,
)
from .tenant import Tenant

# Graph's own success content type; parameters after ';' trip naive equality checks.
GRAPH_JSON = (
    "application/json;odata.metadata=minimal;odata.streaming=true;"
    "IEEE754Compatible=false;charset=utf-8"
)
ERROR_JSON = "application/json"
TOKEN_PATH = "/msi/token"
IDENTITY_API_VERSION = "2019-08-01"
# Reported as the identity's client id when the caller asks for the system-assigned one.
SYSTEM_ASSIGNED_CLIENT_ID = "5c2b1f0e-8a3d-4e6b-9f71-2d4c6a8e0b13"
_GRAPH_AUDIENCES = frozenset({GRAPH_RESOURCE, GRAPH_APP_ID})


@dataclass(frozen=True)
class RecordedRequest:
    """What the emulator saw of one Graph request and what it answered.

    Requests inside a ``$batch`` are recorded too, after the ``$batch`` request itself,
    with ``batch_id`` set to their id in the batch and ``raw_path`` set to their relative
    ``url``; ``path`` is normalised to ``/v1.0/...`` so a test can treat both alike.
    """

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    status: int
    request_id: str
    batch_id: str | None = None


class _Slot:
    """A log position reserved on arrival, so the log keeps arrival order even though the
    status is only known when the answer is sent."""

    __slots__ = ("record",)

    def __init__(self, record: RecordedRequest) -> None:
        self.record = record


class _Drop(Exception):
    """Raised to abandon the connection without writing a single byte."""


@dataclass
class _Token:
    resource: str
    client_id: str
    expires_on: float


def _parse_json(raw: bytes) -> tuple[Any, bool]:
    """Return (value, invalid). Non-JSON bodies are kept as text for the request log."""
    if not raw.strip():
        return None, False
    text = raw.decode("utf-8", errors="replace")
    try:
        return json.loads(text), False
    except ValueError:
        return text, True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: GraphEmulator) -> None:
        self.emulator = emulator
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

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


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm the body waits for
    # the client's delayed ACK (40 ms on Linux) on every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "GraphEmulator/1.0"
    sys_version = ""
    # Idle keep-alive connections are closed after this many seconds.
    timeout = 120
    server: _Server

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
        self.server.emulator._dispatch(self)

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

    def write(self, status: int, headers: dict[str, str], body: Any) -> None:
        payload = b""
        content_type = None
        if body is not None:
            payload = json.dumps(body).encode()
            content_type = ERROR_JSON if status >= 400 else GRAPH_JSON
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


def _check_loopback(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError as exc:
        raise ValueError(f"host must be a loopback address, got {host!r}") from exc
    if not address.is_loopback:
        raise ValueError(f"the emulator only binds loopback addresses, not {host!r}")
    return str(address)


class GraphEmulator:
    """A Graph v1.0 emulator plus managed-identity endpoint on an ephemeral loopback port.

    ``require_auth=False`` accepts Graph requests without a bearer token; it exists for
    tests that deliberately use the SDK's anonymous authentication provider.
    ``max_page_size`` caps every page below what ``$top`` asks for, as Graph may; it can be
    changed while the emulator runs.
    """

    def __init__(
        self,
        tenant: Tenant | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_auth: bool = True,
        token_lifetime: int = 24 * 3600,
        max_page_size: int | None = None,
    ) -> None:
        self.tenant = tenant if tenant is not None else Tenant()
        self.host = _check_loopback(host)
        self.port = port
        self.require_auth = require_auth
        self.token_lifetime = token_lifetime
        self._max_page_size = max_page_size
        self.identity_header = secrets.token_urlsafe(24)
        self._lock = self.tenant.lock
        self.faults = FaultList(self._lock)
        self._log: list[_Slot] = []
        self._token_log: list[dict[str, Any]] = []
        self._tokens: dict[str, _Token] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._service: GraphService | None = None
        self._origin: str | None = None
        # Entra ID as the issuer of callers' tokens (its JWKS is served here too).
        self.entra = EntraTokens()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GraphEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server_class = _Server6 if ":" in self.host else _Server
        server = server_class((self.host, self.port), self)
        port = int(server.server_address[1])
        host = f"[{self.host}]" if ":" in self.host else self.host
        self._origin = f"http://{host}:{port}"
        self.entra.authority = self._origin
        self._service = GraphService(self.tenant, self._origin)
        if self._max_page_size is not None:
            self._service.max_page_size = self._max_page_size
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"graph-emulator-{port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def max_page_size(self) -> int | None:
        return self._max_page_size

    @max_page_size.setter
    def max_page_size(self, size: int | None) -> None:
        self._max_page_size = size
        if self._service is not None:
            self._service.max_page_size = size if size is not None else MAX_PAGE

    # -- addresses -------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        if self._origin is None:
            raise RuntimeError("the emulator has not been started")
        return self._origin

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1.0"

    @property
    def identity_endpoint(self) -> str:
        return f"{self.origin}{TOKEN_PATH}"

    def env(self) -> dict[str, str]:
        """The settings an app needs to use this emulator instead of Graph and Azure."""
        return {
            "GRAPH_BASE_URL": self.base_url,
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
        }

    # -- logs and tokens -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [slot.record for slot in self._log]

    def writes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method != "GET"]

    @property
    def token_requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(entry) for entry in self._token_log]

    def clear_log(self) -> None:
        """Forget recorded Graph and token requests (tokens already issued stay valid)."""
        with self._lock:
            self._log = []
            self._token_log = []

    def issued_tokens(self) -> list[str]:
        """Every access token handed out so far, for tests that check none leaks into logs."""
        with self._lock:
            return list(self._tokens)

    def issue_token(self, resource: str = GRAPH_RESOURCE, client_id: str | None = None) -> str:
        """Mint a token without an HTTP round trip, for tests that call Graph directly."""
        token = "emu." + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(
                resource,
                client_id or SYSTEM_ASSIGNED_CLIENT_ID,
                time.time() + self.token_lifetime,
            )
        return token

    def expire_tokens(self) -> None:
        """Make every issued token expired, to exercise a client's refresh path."""
        with self._lock:
            for token in self._tokens.values():
                token.expires_on = 0.0

    # -- request handling ------------------------------------------------------------------

    def _dispatch(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0].rstrip("/")
        if path == TOKEN_PATH:
            self._token_endpoint(handler)
        elif path == self.entra.jwks_path and handler.command == "GET":
            handler.write(200, {}, self.entra.jwks())
        else:
            self._graph_endpoint(handler)

    def _token_endpoint(self, handler: _Handler) -> None:
        handler.read_body()
        query = dict(parse_qsl(handler.path.partition("?")[2], keep_blank_values=True))
        resource = query.get("resource") or None
        client_id = query.get("client_id") or None
        presented = handler.headers.get("X-IDENTITY-HEADER")
        status, message = 200, ""
        body: dict[str, Any]
        if handler.command != "GET":
            status, message = 405, f"Method {handler.command} is not supported."
        elif presented is None or not hmac.compare_digest(
            presented.encode(), self.identity_header.encode()
        ):
            status, message = 401, "The X-IDENTITY-HEADER header is missing or wrong."
        elif query.get("api-version") != IDENTITY_API_VERSION:
            status, message = 400, f"api-version must be {IDENTITY_API_VERSION}."
        elif resource is None:
            status, message = 400, "The resource parameter is required."
        if status == 200 and resource is not None:
            token = self.issue_token(resource, client_id)
            with self._lock:
                expires_on = self._tokens[token].expires_on
            body = {
                "access_token": token,
                "expires_on": str(int(expires_on)),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": client_id or SYSTEM_ASSIGNED_CLIENT_ID,
            }
        else:
            body = {
                "statusCode": status,
                "message": message,
                "error": "invalid_request" if status == 400 else "unauthorized_client",
                "error_description": message,
            }
        with self._lock:
            self._token_log.append({"resource": resource, "client_id": client_id, "status": status})
        handler.write(status, {}, body)

    def _graph_endpoint(self, handler: _Handler) -> None:
        raw = handler.read_body()
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body, invalid = _parse_json(raw)
        request_id = str(uuid.uuid4())
        call = make_call(
            handler.command,
            handler.path,
            headers=headers,
            body=body,
            body_invalid=invalid,
            request_id=request_id,
            client_request_id=headers.get("client-request-id") or request_id,
            version_prefix=True,
        )
        slot = self._record(call, None)
        try:
            result = self._execute(call)
        except _Drop:
            handler.close_connection = True
            return
        self._finish(slot, result.status)
        response_headers = {
            "request-id": call.request_id,
            "client-request-id": call.client_request_id,
            **result.headers,
        }
        handler.write(result.status, response_headers, result.body)

    def _service_or_fail(self) -> GraphService:
        if self._service is None:
            raise RuntimeError("the emulator has not been started")
        return self._service

    def _record(self, call: GraphCall, batch_id: str | None) -> _Slot:
        slot = _Slot(
            RecordedRequest(
                method=call.method,
                path=call.path,
                raw_path=call.raw_target,
                query=dict(call.query),
                headers=dict(call.headers),
                body=call.body,
                status=0,
                request_id=call.request_id,
                batch_id=batch_id,
            )
        )
        with self._lock:
            self._log.append(slot)
        return slot

    def _finish(self, slot: _Slot, status: int) -> None:
        with self._lock:
            slot.record = replace(slot.record, status=status)

    def _apply_fault(self, call: GraphCall) -> GraphResult | None:
        query = "&".join(f"{k}={v}" for k, v in call.query.items())
        fault: Fault | None = self.faults.take(call.method, call.path, query)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.drop:
            raise _Drop
        if fault.status == 0:
            return None
        return self._service_or_fail().render_error(
            call, fault_error(fault.status, fault.retry_after)
        )

    def _execute(self, call: GraphCall) -> GraphResult:
        service = self._service_or_fail()
        faulted = self._apply_fault(call)
        if faulted is not None:
            return faulted
        if not (call.path == "/v1.0" or call.path.startswith("/v1.0/")):
            return service.render_error(
                call,
                GraphError(400, "BadRequest", "This emulator serves Microsoft Graph v1.0 only."),
            )
        denied = self._authenticate(call)
        if denied is not None:
            return service.render_error(call, denied)
        if [s.lower() for s in call.segments] in (["$batch"], ["%24batch"]):
            if call.method != "POST":
                return service.render_error(
                    call, GraphError(405, "BadRequest", "$batch only accepts POST.")
                )
            return service.run_batch(call, self._execute_inner, lambda: str(uuid.uuid4()))
        return service.handle(call)

    def _execute_inner(self, call: GraphCall, batch_id: str) -> GraphResult:
        slot = self._record(call, batch_id)
        faulted = self._apply_fault(call)  # a drop here abandons the whole batch connection
        result = faulted if faulted is not None else self._service_or_fail().handle(call)
        self._finish(slot, result.status)
        return result

    def _is_graph_audience(self, resource: str) -> bool:
        """Graph accepts tokens for its own host (that is how national clouds work), so the
        emulator accepts its own origin as well as the public Graph resource; anything else
        (a Storage or ARM token, say) is the wrong audience."""
        audience = resource.rstrip("/").lower()
        return audience in _GRAPH_AUDIENCES or audience == self.origin.lower()

    def _authenticate(self, call: GraphCall) -> GraphError | None:
        if not self.require_auth:
            return None
        header = call.headers.get("authorization", "").strip()
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if not header:
            return GraphError(401, "InvalidAuthenticationToken", "Access token is empty.")
        if scheme.lower() != "bearer" or not token:
            return GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure. Bad scheme."
            )
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None:
            return GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure. Invalid token."
            )
        if issued.expires_on <= time.time():
            return GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
            )
        if not self._is_graph_audience(issued.resource):
            return GraphError(
                401,
                "InvalidAuthenticationToken",
                f"Access token validation failure. Invalid audience '{issued.resource}'.",
            )
        return None
