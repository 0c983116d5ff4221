"""Blast-radius limits hold across instances because they are counted in the shared ledger.

Two ``Ledger`` objects with their own table clients stand for two scaled-out app instances;
they share one Azurite table, as instances share the storage account.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.data.tables.aio import TableClient
from pydantic import SecretStr

from emulator import GraphEmulator
from emulator.azurite import Azurite
from shared.keyring import Keyring
from shared.ledger import Ledger, LimitReachedError, Limits, ResetStatus, get_ledger
from shared.ledger.seal import RowSeal
from shared.models import ResetRequest
from shared.settings import get_settings
from tests.conftest import TEST_SIGNING_KEY
from tests.support.audit import audit_events
from tests.support.fixtures import StorageNames
from tests.support.http import problem, submit

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# The ledger seals every row it writes; these tests use it without the app's settings.
SEAL = RowSeal(lambda: Keyring([SecretStr(TEST_SIGNING_KEY)]))


class Clock:
    """One clock both instances read, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def tables(
    azurite: Azurite, storage_names: StorageNames
) -> AsyncIterator[tuple[TableClient, TableClient]]:
    """One table client per instance, on the same table."""
    first, second = (
        TableClient.from_connection_string(
            azurite.connection_string, table_name=storage_names.table
        )
        for _ in range(2)
    )
    await Ledger(first).ensure_table()
    yield first, second
    await first.close()
    await second.close()


@pytest.fixture
def instances(tables: tuple[TableClient, TableClient], clock: Clock) -> tuple[Ledger, Ledger]:
    return Ledger(tables[0], clock=clock, seal=SEAL), Ledger(tables[1], clock=clock, seal=SEAL)


def request(user: str, ticket: str) -> ResetRequest:
    body = {"user": user, "ticket_id": ticket, "requested_by": "desk@contoso.example"}
    return ResetRequest.model_validate_json(json.dumps(body))


def reset_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


async def test_the_hourly_cap_is_shared_by_instances(
    instances: tuple[Ledger, Ledger], clock: Clock
):
    limits = Limits(per_hour=3, per_user_per_day=10)
    for n in range(3):
        clock.advance(minutes=10)
        ledger = instances[n % 2]
        _, created = await ledger.accept(
            request(f"u{n}@contoso.example", f"T{n}"), reset_id(n), limits=limits
        )
        assert created

    clock.advance(minutes=5)  # 09:35; the first reset was accepted at 09:10
    with pytest.raises(LimitReachedError) as reached:
        await instances[1].accept(request("u9@contoso.example", "T9"), reset_id(9), limits=limits)

    assert reached.value.limit == "tenant-hourly-cap"
    # When the 09:10 reset leaves the window; counted in whole minutes, so at 10:11: at most a
    # minute late, never early.
    assert reached.value.retry_after == 36 * 60
    assert reached.value.record.status is ResetStatus.refused
    assert "per rolling hour" in (reached.value.record.last_error or "")
    # No row is kept for a refusal (a flood must not fill the ledger): the audit event is it.
    assert await instances[0].get(reset_id(9)) is None

    # After Retry-After the same request goes through as a new reset: the refusal is not
    # replayed, and refused rows do not count against the cap.
    clock.advance(seconds=reached.value.retry_after)
    record, created = await instances[0].accept(
        request("u9@contoso.example", "T9"), reset_id(10), limits=limits
    )
    assert created
    assert record.status is ResetStatus.accepted


async def test_concurrent_accepts_never_pass_the_cap(tables: tuple[TableClient, TableClient]):
    limits = Limits(per_hour=2, per_user_per_day=10)

    async def accept(n: int, ms: int) -> bool:
        # Distinct acceptance times, requests alternating between the two instances.
        at = START + timedelta(milliseconds=ms)
        ledger = Ledger(tables[n % 2], clock=lambda: at, seal=SEAL)
        try:
            await ledger.accept(
                request(f"c{n}@contoso.example", f"C{n}"), reset_id(n), limits=limits
            )
        except LimitReachedError:
            return False
        return True

    results = await asyncio.gather(*(accept(n, n) for n in range(6)))

    # Each counts every row present after writing its own, so two can never both miss each
    # other: at the edge a burst may all be refused, but never more than the cap go through.
    assert sum(results) <= 2
    later = [await accept(n, 1000 + n) for n in range(10, 13)]
    assert sum(results) + sum(later) == 2


async def test_a_request_whose_write_lands_late_still_counts_the_other(
    tables: tuple[TableClient, TableClient],
):
    """The acceptance time is taken before the write: the instance with the earlier time may
    write (and count) after the other has counted. It must still see that other row."""
    limits = Limits(per_hour=1, per_user_per_day=10)
    early = Ledger(tables[0], clock=lambda: START, seal=SEAL)
    late = Ledger(tables[1], clock=lambda: START + timedelta(milliseconds=5), seal=SEAL)

    await late.accept(request("b@contoso.example", "B"), reset_id(2), limits=limits)
    with pytest.raises(LimitReachedError):
        await early.accept(request("a@contoso.example", "A"), reset_id(1), limits=limits)


async def test_a_count_that_never_finished_is_done_by_the_replay(
    tables: tuple[TableClient, TableClient], clock: Clock, monkeypatch: pytest.MonkeyPatch
):
    """The row is written before it is counted; if counting fails (storage hiccup, the
    instance recycled), the row must not run uncounted: the client's retry counts it."""
    limits = Limits(per_hour=1, per_user_per_day=10)
    ledger = Ledger(tables[0], clock=clock, seal=SEAL)
    await ledger.accept(request("first@contoso.example", "F"), reset_id(0), limits=limits)

    def storage_busy(*args: object, **kwargs: object) -> None:
        raise HttpResponseError("503 Server Busy")

    same = request("second@contoso.example", "S")
    with monkeypatch.context() as patch:
        patch.setattr(tables[0], "get_entity", storage_busy)
        with pytest.raises(HttpResponseError):
            await ledger.accept(same, reset_id(1), limits=limits)
    half_done = await ledger.get(reset_id(1))
    assert half_done is not None and not half_done.admitted

    # A retry at once may meet the first count still under way: it is left alone.
    record, created = await ledger.accept(same, reset_id(2), limits=limits)
    assert (created, record.id, record.admitted) == (False, reset_id(1), False)
    # A retry after that counts it.
    clock.advance(minutes=2)
    with pytest.raises(LimitReachedError):
        await ledger.accept(same, reset_id(3), limits=limits)
    assert await ledger.get(reset_id(1)) is None  # counted, refused, not kept


async def test_a_replay_racing_a_refusal_is_answered_not_crashed(
    tables: tuple[TableClient, TableClient], clock: Clock
):
    """A refuses and deletes the idempotency entry while B, replaying the same request, has
    just failed to create it: B must try again rather than fail with a storage error."""
    limits = Limits(per_hour=1, per_user_per_day=10)
    a, b = Ledger(tables[0], clock=clock, seal=SEAL), Ledger(tables[1], clock=clock, seal=SEAL)
    await a.accept(request("first@contoso.example", "F"), reset_id(0), limits=limits)

    a_at_delete, b_failed, a_deleted = asyncio.Event(), asyncio.Event(), asyncio.Event()
    a_delete, b_submit = tables[0].delete_entity, tables[1].submit_transaction

    async def slow_delete(*args: Any, **kwargs: Any) -> Any:
        a_at_delete.set()
        await b_failed.wait()
        try:
            return await a_delete(*args, **kwargs)
        finally:
            a_deleted.set()

    async def racing_submit(*args: Any, **kwargs: Any) -> Any:
        await a_at_delete.wait()
        try:
            return await b_submit(*args, **kwargs)
        finally:
            b_failed.set()
            await a_deleted.wait()

    tables[0].delete_entity = slow_delete  # type: ignore[method-assign]
    tables[1].submit_transaction = racing_submit  # type: ignore[method-assign]
    same = request("second@contoso.example", "S")
    results = await asyncio.gather(
        a.accept(same, reset_id(1), limits=limits),
        b.accept(same, reset_id(2), limits=limits),
        return_exceptions=True,
    )

    assert isinstance(results[0], LimitReachedError)
    assert isinstance(results[1], LimitReachedError), repr(results[1])


async def test_the_cooldown_recognises_a_user_by_upn_or_object_id(
    instances: tuple[Ledger, Ledger], clock: Clock
):
    limits = Limits(per_hour=100, per_user_per_day=2)
    first, second = instances
    # Admission resolves the user: however a request names them, it counts their object id.
    adele = ("6e7b768e-07e2-4810-8459-485f84f8f204", "adele@contoso.example")
    await first.accept(
        request("adele@contoso.example", "A1"), reset_id(1), limits=limits, user=adele
    )

    clock.advance(hours=3)
    await second.accept(
        request("6e7b768e-07e2-4810-8459-485f84f8f204", "A2"),
        reset_id(2),
        limits=limits,
        user=adele,
    )
    clock.advance(hours=3)
    with pytest.raises(LimitReachedError) as reached:
        await first.accept(
            request("6E7B768E-07E2-4810-8459-485F84F8F204", "A3"),
            reset_id(3),
            limits=limits,
            user=adele,
        )

    assert reached.value.limit == "user-cooldown"
    assert reached.value.retry_after == 18 * 3600  # the first reset leaves the 24 h window
    # Someone else is not affected.
    await second.accept(request("alex@contoso.example", "X1"), reset_id(4), limits=limits)


async def test_past_a_limit_the_http_answer_is_a_429_and_an_error_event(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    monkeypatch.setenv("RESETS_PER_USER_PER_DAY", "1")
    get_settings.cache_clear()
    body = {"user": "alex.wilber@contoso.example", "requested_by": "desk", "mode": "sync"}

    done, _ = await submit({**body, "ticket_id": "INC1"})
    assert done.status_code == 200, done.get_body()
    writes_after_first = len(graph_emulator.writes())

    again, queue = await submit({**body, "ticket_id": "INC2"})

    assert again.status_code == 429
    details = problem(again)
    assert details["type"] == "urn:mfa-reset:problem:limit-reached"
    assert details["limit"] == "user-cooldown"
    assert 0 < int(again.headers["Retry-After"]) <= 24 * 3600
    assert len(graph_emulator.writes()) == writes_after_first
    assert not queue.is_set
    refused = [e for e in audit_events(caplog) if e["event"] == "refused"]
    assert len(refused) == 1
    assert refused[0]["_level"] == logging.getLevelName(logging.ERROR)
    assert refused[0]["ticket_id"] == "INC2"
    assert refused[0]["status"] == "refused"

    # The refusal leaves no row and no replayable idempotency entry: the audit event records
    # it (its reset_id is the one in the problem).
    assert await (await get_ledger()).get(details["reset_id"]) is None
    assert refused[0]["reset_id"] == details["reset_id"]


async def test_two_pending_requests_naming_one_user_two_ways_count_as_one_user(
    app_env: StorageNames, graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
):
    """The review's finding: by UPN and by object id, both still queued, both were accepted
    with RESETS_PER_USER_PER_DAY=1. Admission now resolves the user to its object id."""
    monkeypatch.setenv("RESETS_PER_USER_PER_DAY", "1")
    get_settings.cache_clear()
    alex = graph_emulator.tenant.user("alex.wilber@contoso.example")
    assert alex is not None
    body = {"requested_by": "desk", "ticket_id": "INC1"}

    first, queue = await submit({**body, "user": "alex.wilber@contoso.example"})
    assert first.status_code == 202 and queue.is_set
    second, queue = await submit({**body, "ticket_id": "INC2", "user": alex.id.upper()})
    assert second.status_code == 429
    assert problem(second)["limit"] == "user-cooldown"
    assert not queue.is_set
    assert graph_emulator.writes() == []  # admission only reads


async def test_an_unknown_user_is_refused_at_admission(
    app_env: StorageNames, graph_emulator: GraphEmulator
):
    response, queue = await submit(
        {"user": "nobody@contoso.example", "requested_by": "desk", "ticket_id": "INC3"}
    )
    assert response.status_code == 404
    assert problem(response)["type"] == "urn:mfa-reset:problem:user-not-found"
    assert not queue.is_set


async def test_window_counters_are_exact_under_contention(
    instances: tuple[Ledger, Ledger], clock: Clock
):
    """Two instances counting one caller's dry runs at once never let more than the cap by."""
    first, second = instances
    results = await asyncio.gather(
        *((first if n % 2 else second).count_in_window("dry-run|app-1", 7) for n in range(20))
    )
    assert sum(r is None for r in results) == 7
    assert {r for r in results if r is not None} == {3600}  # START is on the hour
    # Another name has its own count; the next hour starts afresh.
    assert await first.count_in_window("dry-run|app-2", 7) is None
    clock.advance(hours=1)
    assert await second.count_in_window("dry-run|app-1", 7) is None


async def test_dry_runs_are_limited_per_caller(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    monkeypatch.setenv("DRY_RUNS_PER_CALLER_PER_HOUR", "2")
    get_settings.cache_clear()
    body = {"user": "alex.wilber@contoso.example", "requested_by": "desk", "dry_run": True}

    for n in range(2):
        planned, _ = await submit({**body, "ticket_id": f"DRY{n}"})
        assert planned.status_code == 200
    before = len(graph_emulator.requests)
    third, _ = await submit({**body, "ticket_id": "DRY2"})

    assert third.status_code == 429
    details = problem(third)
    assert details["limit"] == "dry-run-rate"
    assert 0 < int(third.headers["Retry-After"]) <= 3600
    assert len(graph_emulator.requests) == before  # refused before any Graph read
    refused = [e for e in audit_events(caplog) if e["event"] == "refused"]
    assert refused and refused[-1]["detail"].startswith("limit: ")


async def test_a_burst_on_two_instances_admits_exactly_the_cap(
    tables: tuple[TableClient, TableClient],
):
    """Every admission of a burst reads the same limiter rows; the conditional transaction
    lets one through at a time and the others count again, so exactly the cap passes: not
    more (the limit), and not fewer (no request refused while there was room)."""
    limits = Limits(per_hour=5, per_user_per_day=2)
    instances = [Ledger(tables[n], clock=lambda: START, seal=SEAL) for n in range(2)]

    async def accept(n: int, user: str) -> bool:
        try:
            await instances[n % 2].accept(
                request(user, f"B{n}"), reset_id(100 + n), limits=limits, user=(user, user)
            )
        except LimitReachedError:
            return False
        return True

    tenant_wide = await asyncio.gather(*(accept(n, f"b{n}@contoso.example") for n in range(12)))
    assert sum(tenant_wide) == 5

    limits = Limits(per_hour=100, per_user_per_day=2)
    one_user = await asyncio.gather(*(accept(n, "same@contoso.example") for n in range(20, 28)))
    assert sum(one_user) == 2


async def test_a_sweep_page_reserves_places_under_the_cap_and_gives_back_unused_ones(
    instances: tuple[Ledger, Ledger],
):
    first, second = instances
    assert await first.reserve_hour(10, cap=5) == 5  # the page gets what is left
    assert await second.reserve_hour(3, cap=5) == 0  # on any instance
    await first.release_hour(2)  # two members were requested already: not admitted
    assert await second.reserve_hour(3, cap=5) == 2
    # A reserved place is taken by an admission that counts only the user's cooldown; an
    # admission without a reservation still meets the full cap.
    limits = Limits(per_hour=5, per_user_per_day=2)
    reserved = Limits(per_hour=5, per_user_per_day=2, hour_reserved=True)
    await first.accept(request("r@contoso.example", "R1"), reset_id(1), limits=reserved)
    with pytest.raises(LimitReachedError) as reached:
        await first.accept(request("s@contoso.example", "S1"), reset_id(2), limits=limits)
    assert reached.value.limit == "tenant-hourly-cap"


async def test_resets_refused_as_protected_give_their_places_back(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    """Two requests for administrators must not use up the hour and block the next
    legitimate reset; the protected-target alert still sees both refusals."""
    caplog.set_level("INFO", logger="mfa_reset.audit")
    monkeypatch.setenv("RESETS_PER_HOUR", "2")
    get_settings.cache_clear()
    tenant = graph_emulator.tenant
    global_admin = "62e90394-69f5-4237-9190-012177145e10"
    for n in range(2):
        admin = tenant.add_user(f"admin{n}@contoso.example")
        tenant.add_directory_role(admin.id, "Global Administrator", role_template_id=global_admin)
        body = {"user": admin.user_principal_name, "ticket_id": f"ADM{n}", "mode": "sync"}
        refused, _ = await submit({**body, "requested_by": "caller@contoso.example"})
        assert refused.status_code == 403, refused.get_body()

    legitimate, _ = await submit(
        {"user": "alex.wilber@contoso.example", "ticket_id": "INC9", "requested_by": "desk"}
    )

    assert legitimate.status_code == 202, legitimate.get_body()
    protected = [
        e for e in audit_events(caplog) if str(e.get("detail")).startswith("protected target")
    ]
    assert len(protected) == 2
