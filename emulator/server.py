"""The emulator as tests and the demo use it: :class:`GraphEmulator` starts a loopback
server that serves Graph v1.0 under ``/v1.0``, the managed-identity token endpoint and the
caller tenant's signing keys, and records every Graph request it answers.

Scripted faults are applied here, before a request reaches its Graph handler, both for
requests that arrive on their own and for each request inside a ``$batch``.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from ._common import GRAPH_RESOURCE, GraphError
from .entra import EntraTokens
from .faults import Fault, FaultList
from .graph.batch import run_batch
from .graph.call import GraphCall, GraphResult, fault_error, make_call, render_error
from .graph.odata import MAX_PAGE
from .graph.router import GraphService
from .identity import TOKEN_PATH, ManagedIdentity
from .tenant import Tenant
from .transport import Handler, Server, Server6, check_loopback, parse_json


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
        self.host = check_loopback(host)
        self.port = port
        self.require_auth = require_auth
        self._max_page_size = max_page_size
        self._lock = self.tenant.lock
        self._identity = ManagedIdentity(self._lock, token_lifetime)
        self.faults = FaultList(self._lock)
        self._log: list[_Slot] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._service: GraphService | None = None
        self._origin: str | None = None
        # Entra ID as the issuer of callers' tokens (its JWKS is served here too).
        self.entra = EntraTokens()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> GraphEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        server_class = Server6 if ":" in self.host else Server
        server = server_class((self.host, self.port), self._dispatch)
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

    @property
    def identity_header(self) -> str:
        """The secret the token endpoint demands in ``X-IDENTITY-HEADER``."""
        return self._identity.header

    @property
    def token_lifetime(self) -> int:
        return self._identity.lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        self._identity.lifetime = seconds

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
        return self._identity.requests()

    def clear_log(self) -> None:
        """Forget recorded Graph and token requests (tokens already issued stay valid)."""
        with self._lock:
            self._log = []
            self._identity.clear_log()

    def issued_tokens(self) -> list[str]:
        """Every access token handed out so far, for tests that check none leaks into logs."""
        return self._identity.issued()

    def issue_token(self, resource: str = GRAPH_RESOURCE, client_id: str | None = None) -> str:
        """Mint a token without an HTTP round trip, for tests that call Graph directly."""
        return self._identity.issue(resource, client_id)

    def expire_tokens(self) -> None:
        """Make every issued token expired, to exercise a client's refresh path."""
        self._identity.expire_all()

    # -- request handling ------------------------------------------------------------------

    def _dispatch(self, handler: Handler) -> None:
        path = handler.path.split("?", 1)[0].rstrip("/")
        if path == TOKEN_PATH:
            handler.read_body()
            presented = handler.headers.get("X-IDENTITY-HEADER")
            status, body = self._identity.token_endpoint(handler.command, handler.path, presented)
            handler.write(status, {}, body)
        elif path == self.entra.jwks_path and handler.command == "GET":
            handler.write(200, {}, self.entra.jwks())
        else:
            self._graph_endpoint(handler)

    def _graph_endpoint(self, handler: Handler) -> None:
        raw = handler.read_body()
        headers = {name.lower(): value for name, value in handler.headers.items()}
        body, invalid = parse_json(raw)
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
        return render_error(call, fault_error(fault.status, fault.retry_after))

    def _execute(self, call: GraphCall) -> GraphResult:
        service = self._service_or_fail()
        faulted = self._apply_fault(call)
        if faulted is not None:
            return faulted
        if not (call.path == "/v1.0" or call.path.startswith("/v1.0/")):
            return render_error(
                call,
                GraphError(400, "BadRequest", "This emulator serves Microsoft Graph v1.0 only."),
            )
        if self.require_auth:
            denied = self._identity.authenticate(call.headers.get("authorization", ""), self.origin)
            if denied is not None:
                return render_error(call, denied)
        if [s.lower() for s in call.segments] in (["$batch"], ["%24batch"]):
            if call.method != "POST":
                return render_error(
                    call, GraphError(405, "BadRequest", "$batch only accepts POST.")
                )
            return run_batch(call, self._execute_inner, lambda: str(uuid.uuid4()))
        return service.handle(call)

    def _execute_inner(self, call: GraphCall, batch_id: str) -> GraphResult:
        slot = self._record(call, batch_id)
        faulted = self._apply_fault(call)  # a drop here abandons the whole batch connection
        result = faulted if faulted is not None else self._service_or_fail().handle(call)
        self._finish(slot, result.status)
        return result
