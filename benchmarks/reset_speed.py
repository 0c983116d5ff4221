"""How fast the app resets a user compared with the step-by-step procedure, on an emulated Graph.

Why: the app's reset sends the calls of a round together (one ``$batch`` is one round trip) and
records each round once in its ledger; the issue it answers sets targets for round trips, ledger
writes and speed against an admin's one-call-at-a-time script. This module measures both paths
against the project's Graph emulator, which charges ``latency`` seconds per round trip (a
parallel ``$batch`` costs one latency), and Azurite for the ledger:

* **app**: a synchronous reset (``"mode": "sync"``, no new phone, no pass) through the real
  ``submit_reset`` HTTP function, driven as ``scripts/demo.py`` drives it (same app settings, no
  caller token, a queue output stand-in);
* **reference**: :class:`benchmarks.reference.ReferenceAdmin`, the manual procedure one awaited
  call at a time with the real msgraph-sdk and managed-identity credential.

Each measurement gets a fresh user (in one emulated tenant, whose clients, token and connections
were warmed up by one untimed reset per path) with the first ``k`` methods of the issue's mix,
the mobile phone as the default. Seconds are wall-clock around the whole reset; round trips come
from the emulator's log (cleared before each reset) as a client waits for them: requests in
flight at the same moment (a v1.0 batch and the beta read of hardware tokens beside it) are one
round trip (``sequential_rounds``); ledger writes are counted
on the wire by :mod:`benchmarks.table_proxy`, a counting proxy in front of Azurite's table port.
Both paths must leave the user with only the password method, or the benchmark fails loudly.

The emulator runs the independent items of a batch in ``batch_order``; the default here,
``reverse``, runs the app's default mobile phone first, so Graph refuses it and the app needs its
retry round: the worst case real Graph (which keeps no order) can give it. ``array`` is its best
case. Azurite adds no injected latency: the ledger writes cost what a loopback Azurite costs.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import azure.functions as func

from benchmarks.reference import PASSWORD_ODATA_TYPE, ReferenceAdmin
from benchmarks.table_proxy import CountingTableProxy, proxied_connection_string
from emulator import GraphEmulator, Tenant
from emulator.azurite import ACCOUNT_NAME, Azurite
from emulator.requestlog import sequential_rounds

if TYPE_CHECKING:
    from emulator import User

Submit = Callable[[func.HttpRequest, func.Out[str]], Awaitable[func.HttpResponse]]
NAMED_BY = ("upn", "object id")
PATHS = ("reference", "app")


@dataclass(frozen=True)
class MethodSeed:
    kind: str
    default: bool = False
    props: dict[str, Any] = field(default_factory=dict)


# The mix, in its order; a user with k methods gets the first k (the mobile is default).
METHOD_MIX: tuple[MethodSeed, ...] = (
    MethodSeed("phone", True, {"phone_type": "mobile", "phone_number": "+1 2065550100"}),
    MethodSeed("phone", False, {"phone_type": "alternateMobile", "phone_number": "+1 2065550101"}),
    MethodSeed("phone", False, {"phone_type": "office", "phone_number": "+1 4255550102"}),
    MethodSeed("microsoftAuthenticator", False, {"display_name": "iPhone 15"}),
    MethodSeed("softwareOath"),
    MethodSeed("fido2", False, {"display_name": "YubiKey 5"}),
    MethodSeed("email", False, {"email_address": "someone@fabrikam.example"}),
    MethodSeed("windowsHelloForBusiness", False, {"display_name": "LAPTOP-01"}),
)


class ResetNotDoneError(AssertionError):
    """A path did not really reset the user: the numbers would mean nothing."""


@dataclass(frozen=True)
class Run:
    """One measured reset."""

    k: int
    path: str
    named_by: str
    seconds: float
    round_trips: int
    ledger_writes: int
    batch_sizes: tuple[int, ...]
    remaining: tuple[str, ...]  # the user's method types afterwards, from the tenant itself
    ledger_requests: tuple[str, ...] = ()  # every table request, as "METHOD target status"


@dataclass(frozen=True)
class Row:
    """The runs of one (k, path, named by) cell and their medians."""

    k: int
    path: str
    named_by: str
    runs: tuple[Run, ...]

    @property
    def seconds(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def round_trips(self) -> int:
        return statistics.median_low(r.round_trips for r in self.runs)

    @property
    def ledger_writes(self) -> int:
        return statistics.median_low(r.ledger_writes for r in self.runs)


class _QueueOutput(func.Out[str]):
    """The queue output binding; a synchronous reset leaves it unset."""

    def __init__(self) -> None:
        self.value: str | None = None

    def set(self, val: str) -> None:
        self.value = val

    def get(self) -> str:
        return self.value or ""


@functools.cache
def indexed_submit() -> Submit:
    """``POST /api/resets`` as the Functions host indexes it: once per process."""
    import function_app

    functions = {f.get_function_name(): f for f in function_app.app.get_functions()}
    return cast(Submit, functions["submit_reset"].get_user_function())


@contextmanager
def environment(values: dict[str, str], removed: tuple[str, ...] = ()) -> Iterator[None]:
    """Set app settings for the run and put the old ones back afterwards."""
    from shared.settings import get_settings

    saved = {name: os.environ.get(name) for name in (*values, *removed)}
    for name in removed:
        os.environ.pop(name, None)
    os.environ.update(values)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


class ResetBench:
    """The emulator, Azurite behind the counting proxy, the app and the reference, warmed up.

    ``storage``: an Azurite already running (the tests' fixture); otherwise one is started.
    ``submit``: the ``submit_reset`` function as already indexed in this process (the function
    app can be indexed only once per process); otherwise it is indexed here.
    """

    def __init__(
        self,
        *,
        latency: float,
        batch_order: str = "reverse",
        storage: Azurite | None = None,
        submit: Submit | None = None,
    ) -> None:
        self.latency = latency
        self.batch_order = batch_order
        self._storage = storage
        self._stack = AsyncExitStack()
        self._users = 0
        self.tenant = Tenant(domain="contoso.example")
        self.emulator = GraphEmulator(self.tenant, latency=latency, batch_order=batch_order)
        self._proxy: CountingTableProxy | None = None
        self._submit = submit
        self._reference: ReferenceAdmin | None = None

    async def __aenter__(self) -> ResetBench:
        from shared.graph.client import close_gateway
        from shared.ledger import close_ledger

        stack = self._stack
        try:
            emu = stack.enter_context(self.emulator)
            storage = self._storage or stack.enter_context(Azurite())
            proxy = stack.enter_context(CountingTableProxy(storage.table_port))
            self._proxy = proxy
            settings = {
                **emu.env(),
                "RESET_STORAGE": proxied_connection_string(
                    storage.connection_string, ACCOUNT_NAME, proxy.port
                ),
                "RESET_QUEUE_NAME": "mfa-resets",
                "LEDGER_TABLE_NAME": f"bench{uuid.uuid4().hex[:12]}",
                "WORK_ITEM_SIGNING_KEY": secrets.token_urlsafe(48),
                # Every measurement is a reset: keep the tenant's hourly cap out of the way.
                "RESETS_PER_HOUR": "10000",
            }
            stack.enter_context(environment(settings, removed=("AZURE_CLIENT_ID",)))
            # The process clients are built from these settings on first use, and dropped after.
            await close_ledger()
            await close_gateway()
            stack.push_async_callback(close_gateway)
            stack.push_async_callback(close_ledger)
            self._submit = self._submit or indexed_submit()
            self._reference = ReferenceAdmin(emu.base_url)
            stack.push_async_callback(self._reference.close)
            # Untimed: the first token, connections, the ledger table, lazy imports.
            await self.app(len(METHOD_MIX), "upn")
            await self.reference(len(METHOD_MIX), "upn")
        except BaseException:
            await stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def new_user(self, k: int) -> User:
        """A fresh user with the first ``k`` methods of the issue's mix."""
        if not 1 <= k <= len(METHOD_MIX):
            raise ValueError(f"k must be between 1 and {len(METHOD_MIX)}, not {k}")
        self._users += 1
        user = self.tenant.add_user(
            f"bench.user{self._users}@contoso.example", display_name=f"Bench User {self._users}"
        )
        for seed in METHOD_MIX[:k]:
            self.tenant.add_method(user.id, seed.kind, default=seed.default, **seed.props)
        return user

    def _left(self, user: User) -> tuple[str, ...]:
        return tuple(str(m["@odata.type"]) for m in self.tenant.methods(user.id))

    def _key(self, user: User, named_by: str) -> str:
        if named_by not in NAMED_BY:
            raise ValueError(f"named_by must be one of {NAMED_BY}")
        return user.user_principal_name if named_by == "upn" else user.id

    def _start(self) -> float:
        assert self._proxy is not None
        self.emulator.clear_log()
        self._proxy.clear()
        return time.perf_counter()

    def _finish(self, k: int, path: str, named_by: str, seconds: float, user: User) -> Run:
        assert self._proxy is not None
        remaining = self._left(user)
        if remaining != (PASSWORD_ODATA_TYPE,):
            raise ResetNotDoneError(f"{path} left {user.user_principal_name} with {remaining}")
        return Run(
            k=k,
            path=path,
            named_by=named_by,
            seconds=seconds,
            round_trips=sequential_rounds(self.emulator.requests),
            ledger_writes=len(self._proxy.writes()),
            batch_sizes=tuple(self.emulator.batch_sizes()),
            remaining=remaining,
            ledger_requests=tuple(r.describe() for r in self._proxy.requests),
        )

    async def app(self, k: int, named_by: str) -> Run:
        """One synchronous reset of a fresh user through ``POST /api/resets``."""
        assert self._submit is not None
        user = self.new_user(k)
        body = {
            "user": self._key(user, named_by),
            "ticket_id": f"BENCH{self._users:05d}",
            "requested_by": "benchmark@contoso.example",
            "mode": "sync",
        }
        request = func.HttpRequest(
            method="POST",
            url="http://localhost:7071/api/resets",
            headers={"Content-Type": "application/json"},
            body=json.dumps(body).encode(),
        )
        started = self._start()
        response = await self._submit(request, _QueueOutput())
        seconds = time.perf_counter() - started
        answer = json.loads(response.get_body())
        if response.status_code != 200 or answer.get("status") != "succeeded":
            raise ResetNotDoneError(f"the app answered {response.status_code}: {answer}")
        return self._finish(k, "app", named_by, seconds, user)

    async def reference(self, k: int, named_by: str) -> Run:
        """The step-by-step reset of a fresh user."""
        assert self._reference is not None
        user = self.new_user(k)
        started = self._start()
        await self._reference.reset(self._key(user, named_by))
        seconds = time.perf_counter() - started
        return self._finish(k, "reference", named_by, seconds, user)


async def measure(
    ks: list[int],
    *,
    repeat: int = 3,
    latency: float = 0.1,
    batch_order: str = "reverse",
    named_by: tuple[str, ...] = NAMED_BY,
    storage: Azurite | None = None,
    submit: Submit | None = None,
) -> list[Row]:
    """Every (named by, k, path) cell, ``repeat`` runs each, the two paths interleaved."""
    rows: list[Row] = []
    bench = ResetBench(latency=latency, batch_order=batch_order, storage=storage, submit=submit)
    async with bench:
        for by in named_by:
            for k in ks:
                runs: dict[str, list[Run]] = {path: [] for path in PATHS}
                for _ in range(repeat):
                    runs["reference"].append(await bench.reference(k, by))
                    runs["app"].append(await bench.app(k, by))
                rows += [Row(k, path, by, tuple(runs[path])) for path in PATHS]
    return rows
