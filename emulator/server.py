"""The emulator as tests and the demo use it: :class:`GraphEmulator` starts a loopback
server that serves Graph (v1.0 and beta), the managed-identity token endpoint, the caller tenant's
signing keys and Verified ID (``verified_id``), and records every Graph request it answers.

Scripted faults are applied here, before a request reaches its Graph handler (or, for
``drop_after``, once it has been handled), both for requests that arrive on their own and
for each request inside a ``$batch``; so is the injected ``latency`` that makes a round
trip cost time, which is what lets a benchmark tell one batch from twenty calls.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from functools import partial
from types import TracebackType
from typing import Any

from ._common import GRAPH_RESOURCE, GraphError
from .entra import EntraTokens
from .faults import Fault, FaultList
from .graph.batch import run_batch
from .graph.call import GraphCall, GraphResult, fault_error, make_call, render_error
from .graph.odata import MAX_PAGE
from .graph.router import GraphService
from .graph.schedule import BATCH_ORDERS
from .identity import TOKEN_PATH, ManagedIdentity
from .outbox import Outbox
from .requestlog import RecordedRequest, RequestLog, batch_items, batch_sizes, round_trips
from .tenant import Tenant
from .transport import Handler, Server, Server6, check_loopback, parse_json
from .verifiedid.service import VerifiedIdService


class _Drop(Exception):
    """Raised to abandon the connection without writing a single byte."""


class GraphEmulator:
    """A Graph emulator (v1.0, beta) plus managed-identity endpoint on an ephemeral loopback port.

    ``require_auth=False`` accepts Graph requests without a bearer token; it exists for
    tests that deliberately use the SDK's anonymous authentication provider.
    ``max_page_size`` caps every page below what ``$top`` asks for, as Graph may; it can be
    changed while the emulator runs.

    ``latency`` (seconds, settable while running) is what every Graph round trip costs,
    slept in the handler thread outside the tenant lock so concurrent requests overlap. A
    ``$batch`` costs its slowest ``dependsOn`` chain: ``latency`` once when its items are
    independent, ``latency`` times the longest chain otherwise (see
    :mod:`~emulator.graph.schedule`). Token and JWKS requests cost nothing.
    ``batch_order`` is the order in which a batch's independent items run and are answered:
    ``"array"`` (request order), ``"reverse"`` or ``"random"``; ``batch_seed`` seeds the
    random order (setting it restarts the sequence of shuffles).
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
        latency: float = 0.0,
        batch_order: str = "array",
        batch_seed: int | None = None,
    ) -> None:
        self.tenant = tenant if tenant is not None else Tenant()
        self.host = check_loopback(host)
        self.port = port
        self.require_auth = require_auth
        self._max_page_size = max_page_size
        self._lock = self.tenant.lock
        self._identity = ManagedIdentity(self._lock, token_lifetime)
        self.faults = FaultList(self._lock)
        self._log = RequestLog(self._lock)
        self.latency = latency
        self.batch_order = batch_order
        self.batch_seed = batch_seed
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._service: GraphService | None = None
        self._origin: str | None = None
        # Entra ID as the issuer of callers' tokens (its JWKS is served here too).
        self.entra = EntraTokens()
        self.verified_id = VerifiedIdService(self.tenant, self._identity, self._lock)

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
        self.verified_id.origin = self._origin
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

    @property
    def latency(self) -> float:
        return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self._latency = float(seconds)

    @property
    def batch_order(self) -> str:
        return self._batch_order

    @batch_order.setter
    def batch_order(self, order: str) -> None:
        if order not in BATCH_ORDERS:
            raise ValueError(f"batch_order must be one of {BATCH_ORDERS}, not {order!r}")
        self._batch_order = order

    @property
    def batch_seed(self) -> int | None:
        return self._batch_seed

    @batch_seed.setter
    def batch_seed(self, seed: int | None) -> None:
        self._batch_seed = seed
        self._rng = random.Random(seed)

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
            "VERIFIED_ID_BASE_URL": self.verified_id.base_url,
        }

    # -- logs and tokens -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        return self._log.snapshot()

    def writes(self) -> list[RecordedRequest]:
        """Requests that may change the tenant, each once: a batch's items are recorded on
        their own, so the ``$batch`` that carried them is not one."""
        return [r for r in self.requests if r.method != "GET" and not r.path.endswith("/$batch")]

    def round_trips(self) -> int:
        """Top-level Graph requests recorded (a ``$batch`` counts once, its items not at
        all; token and JWKS requests are never in the Graph log)."""
        return round_trips(self.requests)

    def batch_items(self, batch: RecordedRequest | str) -> list[RecordedRequest]:
        """The executed items of one ``$batch`` (its record or request id), in run order."""
        request_id = batch if isinstance(batch, str) else batch.request_id
        return batch_items(self.requests, request_id)

    def batch_sizes(self) -> list[int]:
        """How many items each top-level ``$batch`` executed, in arrival order."""
        return batch_sizes(self.requests)

    @property
    def outbox(self) -> Outbox:
        """Every message ``sendMail`` accepted, decoded (the tenant's
        :class:`~emulator.outbox.Outbox`: ``messages()``, ``to(address)``, ``clear()``)."""
        return self.tenant.outbox

    @property
    def token_requests(self) -> list[dict[str, Any]]:
        return self._identity.requests()

    def clear_log(self) -> None:
        """Forget recorded Graph and token requests (tokens already issued stay valid)."""
        with self._lock:
            self._log.clear()
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
        elif path.startswith(self.verified_id.prefix):
            self.verified_id.serve(handler)
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
            raw_body=raw,
        )
        slot = self._log.record(call)
        try:
            result = self._execute(call)
        except _Drop:
            handler.close_connection = True
            return
        self._log.finish(slot, result.status)
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

    def _take_fault(self, call: GraphCall) -> Fault | None:
        query = "&".join(f"{k}={v}" for k, v in call.query.items())
        return self.faults.take(call.method, call.path, query)

    @staticmethod
    def _fault_answer(call: GraphCall, fault: Fault | None) -> GraphResult | None:
        """What a fault answers instead of the handler; ``None`` lets the handler answer."""
        if fault is None or fault.drop_after:
            return None
        if fault.drop:
            raise _Drop
        if fault.status == 0:
            return None
        return render_error(call, fault_error(fault.status, fault.retry_after))

    def _execute(self, call: GraphCall) -> GraphResult:
        """Answer a request that arrived on its own: it costs ``latency`` plus its fault's
        delay; a ``$batch`` costs its fault's delay plus its items' slowest chain, and at
        least ``latency``."""
        batch = [s.lower() for s in call.segments] in (["$batch"], ["%24batch"])
        fault = self._take_fault(call)
        delay = fault.delay if fault is not None else 0.0
        latency = self.latency
        answered = fault is not None and not fault.drop_after and (fault.drop or fault.status != 0)
        batch_runs = batch and not answered
        _sleep(delay if batch_runs else delay + latency)
        started = time.monotonic()
        faulted = self._fault_answer(call, fault)
        result = faulted if faulted is not None else self._handle(call, batch, latency)
        if batch_runs:  # refused batches (auth, payload) and all-424 ones still cost a trip
            _sleep(started + latency - time.monotonic())
        if fault is not None and fault.drop_after:
            raise _Drop
        return result

    def _handle(self, call: GraphCall, batch: bool, latency: float) -> GraphResult:
        service = self._service_or_fail()
        if self.require_auth:
            denied = self._identity.authenticate(call.headers.get("authorization", ""), self.origin)
            if denied is not None:
                return render_error(call, denied)
        if not batch:
            return service.handle(call)
        if call.method != "POST":
            return render_error(call, GraphError(405, "BadRequest", "$batch only accepts POST."))
        return run_batch(
            call,
            partial(self._execute_inner, batch_request_id=call.request_id),
            lambda: str(uuid.uuid4()),
            latency=latency,
            order=self.batch_order,
            rng=self._rng,
        )

    def _execute_inner(
        self, call: GraphCall, batch_id: str, wait: Callable[[float], None], batch_request_id: str
    ) -> GraphResult:
        """One item of a batch: its fault's delay overlaps the other items' (``wait`` sleeps
        until the item's turn on the batch clock); a drop abandons the whole batch."""
        slot = self._log.record(call, batch_id, batch_request_id)
        fault = self._take_fault(call)
        wait(fault.delay if fault is not None else 0.0)
        faulted = self._fault_answer(call, fault)
        result = faulted if faulted is not None else self._service_or_fail().handle(call)
        self._log.finish(slot, result.status)
        if fault is not None and fault.drop_after:
            raise _Drop
        return result


def _sleep(seconds: float) -> None:
    if seconds > 0:
        time.sleep(seconds)
