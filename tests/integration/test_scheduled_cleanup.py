"""The scheduled run through the timer function: group sweep, re-drive, retention, summary.

Graph is the emulator, the queue and the ledger are Azurite, the function is called with a
timer stand-in and its queue output is delivered by the queue-host stand-in.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from pydantic import SecretStr

from emulator import Fault, GraphEmulator, Tenant
from emulator.azurite import Azurite
from shared.cleanup import CleanupRun
from shared.graph.client import get_gateway
from shared.keyring import Keyring
from shared.ledger import PARTITION, RUN_PARTITION, Ledger, LedgerRecord, ResetStatus, get_ledger
from shared.ledger.seal import RowSeal, sealed_state
from shared.models import ResetRequest
from shared.settings import get_settings
from shared.signing import WorkItem, WorkItemCaller, admission_time
from tests.conftest import TEST_SIGNING_KEY
from tests.support.app import handler
from tests.support.bindings import Out, TimerStub
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import submit

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"


async def run_cleanup() -> list[WorkItem]:
    """One invocation of the timer function, then one of the page function per page it
    queued: the reset messages their output bindings hold."""
    queue: Out[list[str]] = Out()
    pages: Out[list[str]] = Out()
    await handler("scheduled_cleanup")(TimerStub(), queue, Out(), pages)
    messages = list(queue.get()) if queue.is_set else []
    for n, page in enumerate(pages.get() if pages.is_set else []):
        admitted: Out[list[str]] = Out()
        await handler("admit_sweep_page")(
            func.QueueMessage(body=page.encode(), id=f"page-{n}"), admitted
        )
        messages += admitted.get() if admitted.is_set else []
    return [WorkItem.model_validate_json(m) for m in messages]


async def deliver(host: QueueHost, names: StorageNames, messages: list[WorkItem]) -> None:
    for message in messages:
        await host.send(names.queue, message.model_dump_json())
    report = await host.drain(names.queue, handler("process_reset"), max_messages=32)
    assert report.failed == [], report.failed


@pytest.fixture
async def table(azurite: Azurite, app_env: StorageNames) -> AsyncIterator[TableClient]:
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=app_env.table
    ) as client:
        yield client


async def run_totals(table: TableClient) -> dict[str, int]:
    """The newest run's counters, with those of the sweep pages it queued added in."""
    rows = [
        dict(r)
        async for r in table.query_entities("PartitionKey eq @pk", parameters={"pk": RUN_PARTITION})
    ]
    run_id = rows[0]["run_id"]
    ours = [r for r in rows if r["run_id"] == run_id]
    return {k: sum(r[k] for r in ours) for k in ("swept", "pages", "queued", "refused", "deferred")}


async def latest_run(table: TableClient) -> dict[str, Any]:
    """The newest run summary (their keys sort newest first)."""
    rows = table.query_entities("PartitionKey eq @pk", parameters={"pk": RUN_PARTITION})
    async for row in rows:
        return dict(row)
    raise AssertionError("no run summary was recorded")


def settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def reset_group(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> str:
    group = tenant.add_group("MFA reset pending")
    settings(monkeypatch, RESET_GROUP_ID=group.id, RESETS_PER_HOUR="1000")
    return group.id


def add_members(tenant: Tenant, group_id: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        user = tenant.add_user(f"staff{n:03d}@contoso.example")
        if n % 50 == 0:  # a few with a method to delete; the rest have none left
            tenant.add_method(user.id, "phone", phone_type="mobile", phone_number="+1 2065550177")
        tenant.add_member(group_id, user.id)
        ids.append(user.id)
    return ids


async def test_a_group_sweep_resets_members_and_removes_them_with_ref_only(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    plain = add_members(tenant, reset_group, 248)
    admin = tenant.add_user("it.admin@contoso.example")
    tenant.add_directory_role(admin.id, "Global Administrator", role_template_id=GLOBAL_ADMIN)
    guest = tenant.add_user("partner_fabrikam.example#EXT#@contoso.example", user_type="Guest")
    not_a_user = tenant.add_group("Nested group")
    for member in (admin.id, guest.id, not_a_user.id):
        tenant.add_member(reset_group, member)
    graph_emulator.max_page_size = 100  # 250 users over three pages

    messages = await run_cleanup()

    listings = [r for r in graph_emulator.requests if r.method == "GET" and "/members/" in r.path]
    # The run lists the group (three pages of 100); each of the three sweep pages lists it
    # again to admit only members still in it.
    assert len(listings) == 3 + 3 * 3
    assert sorted(m.request.user for m in messages) == sorted([*plain, admin.id, guest.id])
    assert {m.request.ticket_id for m in messages} == {f"sweep-{datetime.now(UTC):%Y-%m-%d}"}
    assert graph_emulator.writes() == []  # the sweep itself only reads

    await deliver(queue_host, app_env, messages)

    assert tenant.members(reset_group) == [admin.id, not_a_user.id]  # protected one stays
    group_deletes = [r for r in graph_emulator.writes() if r.path.startswith("/v1.0/groups/")]
    assert len(group_deletes) == 249
    assert all(r.method == "DELETE" and r.path.endswith("/$ref") for r in group_deletes)
    assert all(tenant.user(uid) is not None for uid in [*plain, guest.id])  # nobody deleted
    rows = {e["TargetKey"]: e async for e in table.query_entities("Kind eq 'reset'")}
    assert rows[admin.id]["Status"] == "refused"
    assert rows[guest.id]["Status"] == "succeeded"
    assert rows[guest.id]["GroupRemoval"] == "done"
    guest_steps = json.loads(rows[guest.id]["Outcome"])["steps"]
    assert {s["action"]: s["result"] for s in guest_steps}["revoke_sessions"] == "skipped"

    # The next run finds only the protected member, already refused today, and says so.
    assert await run_cleanup() == []
    totals = await run_totals(table)
    assert (totals["swept"], totals["pages"], totals["queued"], totals["refused"]) == (1, 1, 0, 1)


async def test_two_sweeps_at_once_queue_each_member_once(
    app_env: StorageNames, graph_emulator: GraphEmulator, tenant: Tenant, reset_group: str
):
    members = add_members(tenant, reset_group, 40)

    first, second = await asyncio.gather(run_cleanup(), run_cleanup())

    queued = [m.request.user for m in [*first, *second]]
    assert sorted(queued) == sorted(members)


async def test_a_failed_group_removal_is_finished_by_the_next_run(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    (member,) = add_members(tenant, reset_group, 1)
    graph_emulator.faults.add(Fault(method="DELETE", path=r"/\$ref$", status=503, times=None))
    await deliver(queue_host, app_env, await run_cleanup())
    assert tenant.members(reset_group) == [member]  # the reset succeeded, the removal did not

    graph_emulator.faults.clear()
    messages = await run_cleanup()

    assert tenant.members(reset_group) == []
    assert messages == []  # removed, not reset again
    record = await only_reset(table)
    assert record.status is ResetStatus.succeeded
    assert record.group_removal == "done"
    assert record.outcome is not None
    removals = [s for s in record.outcome.steps if s.action == "remove_from_group"]
    assert [s.result for s in removals] == ["failed", "done"]


async def only_reset(table: TableClient) -> LedgerRecord:
    (entity,) = [e async for e in table.query_entities("Kind eq 'reset'")]
    return LedgerRecord.from_entity(entity)


# -- re-drive -------------------------------------------------------------------------------


def request(user: str, ticket: str, **extra: Any) -> ResetRequest:
    body = {"user": user, "ticket_id": ticket, "requested_by": "desk", **extra}
    return ResetRequest.model_validate_json(json.dumps(body))


class Seeder:
    """Writes ledger rows as they would be after things went wrong at some time in the past:
    admitted and signed as admission does, each later state sealed as the app seals it."""

    def __init__(self, table: TableClient, tenant: Tenant | None = None) -> None:
        self.table = table
        self.tenant = tenant
        self.seal = RowSeal(lambda: Keyring([SecretStr(TEST_SIGNING_KEY)]))

    def user_id(self, key: str) -> str:
        user = self.tenant.user(key) if self.tenant else None
        return user.id if user else str(uuid.uuid5(uuid.NAMESPACE_URL, key))

    async def accepted(self, ago: timedelta, req: ResetRequest, reset_id: str) -> LedgerRecord:
        at = admission_time(datetime.now(UTC) - ago)
        caller = {"authenticated_by": "function-key"}
        user_id = self.user_id(req.user)
        item = WorkItem(
            reset_id=reset_id,
            request=req,
            user_id=user_id,
            admitted_at=at,
            caller=WorkItemCaller.model_validate(caller),
        ).signed(Keyring([SecretStr(TEST_SIGNING_KEY)]))
        record, _ = await Ledger(self.table, clock=lambda: at, seal=self.seal).accept(
            req,
            reset_id,
            signature=item.signature,
            user=(user_id, req.user),
            accepted_at=at,
            caller=caller,
        )
        return record

    async def set(self, reset_id: str, **columns: Any) -> None:
        """Change the row as the app would have (its seal follows the new state)."""
        row = await self.table.get_entity(PARTITION, reset_id)
        state = sealed_state({**row, **columns})
        await self.table.update_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": reset_id,
                **columns,
                "StateMac": self.seal.state_mac(reset_id, state),
            },
            mode=UpdateMode.MERGE,
        )


def rid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


async def stored(ledger: Ledger, n: int) -> LedgerRecord:
    record = await ledger.get(rid(n))
    assert record is not None
    return record


async def test_stuck_and_retryably_failed_resets_are_redriven_up_to_the_limit(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    table: TableClient,
    monkeypatch: pytest.MonkeyPatch,
):
    settings(monkeypatch, REDRIVE_MAX_ATTEMPTS="2")
    await Ledger(table).ensure_table()
    seed = Seeder(table, graph_emulator.tenant)
    hour, long_ago = timedelta(hours=1), datetime.now(UTC) - timedelta(hours=1)
    alex, adele = "alex.wilber@contoso.example", "adele.vance@contoso.example"
    phone = {"new_phone": {"number": "+14255550199"}}
    # 1: running, its worker died an hour ago.        -> re-driven
    await seed.accepted(hour, request(alex, "R1"), rid(1))
    await seed.set(rid(1), Status="running", LeaseExpiresAt=long_ago, Attempts=1)
    # 2: the same, but re-driven twice already.         -> given up
    await seed.accepted(hour, request(adele, "R2"), rid(2))
    await seed.set(rid(2), Status="running", LeaseExpiresAt=long_ago, Redrives=2)
    # 3: failed after the queue gave up (retryable).    -> re-driven, accepted again
    await seed.accepted(hour, request("megan@contoso.example", "R3"), rid(3))
    await seed.set(rid(3), Status="failed", Retryable=True, LastError="Graph 503")
    # 4: failed for good (not retryable).               -> left alone
    await seed.accepted(hour, request("diego.siciliani@contoso.example", "R4"), rid(4))
    await seed.set(rid(4), Status="failed", Retryable=False)
    # 5: accepted a moment ago, message on its way.     -> left alone
    await seed.accepted(timedelta(seconds=5), request("x1@contoso.example", "R5"), rid(5))
    # 6: accepted an hour ago, message lost.            -> re-driven
    await seed.accepted(hour, request("x2@contoso.example", "R6"), rid(6))
    # 7: stuck with a new phone the ledger only has masked, message may still come -> left
    await seed.accepted(hour, request("x3@contoso.example", "R7", **phone), rid(7))
    # 8: the same but failed retryably                  -> given up: submit again
    await seed.accepted(hour, request("x4@contoso.example", "R8", **phone), rid(8))
    await seed.set(rid(8), Status="failed", Retryable=True)
    # 9: released by a worker a moment ago, the queue retries it itself -> left alone
    await seed.accepted(hour, request("x5@contoso.example", "R9"), rid(9))
    await seed.set(rid(9), Status="running", LeaseExpiresAt=datetime.now(UTC), Attempts=1)

    messages = await run_cleanup()

    assert sorted(m.reset_id for m in messages) == [rid(1), rid(3), rid(6)]
    ledger = Ledger(table)
    after = {n: await stored(ledger, n) for n in range(1, 10)}
    assert after[1].status is ResetStatus.running and after[1].redrives == 1
    assert after[2].status is ResetStatus.failed and "2 re-drive(s)" in str(after[2].last_error)
    assert not after[2].retryable
    assert after[3].status is ResetStatus.accepted and after[3].redrives == 1
    assert after[4].status is ResetStatus.failed and after[4].redrives == 0
    assert after[5].status is ResetStatus.accepted and after[5].redrives == 0
    assert after[6].redrives == 1
    assert after[7].status is ResetStatus.accepted and after[7].redrives == 0
    assert after[8].status is ResetStatus.failed and "submit it again" in str(after[8].last_error)
    assert after[9].redrives == 0
    latest = await latest_run(table)
    assert (latest["redriven"], latest["gave_up"]) == (3, 2)

    # A second run at the same time finds nothing left to do twice.
    assert await run_cleanup() == []

    # The re-driven ones run to the end through the normal worker.
    await deliver(queue_host, app_env, messages)
    assert (await stored(ledger, 1)).status is ResetStatus.succeeded


# -- retention ------------------------------------------------------------------------------


async def test_retention_deletes_exactly_the_old_finished_rows(
    app_env: StorageNames, table: TableClient, monkeypatch: pytest.MonkeyPatch
):
    settings(monkeypatch, RETENTION_DAYS="30")
    await Ledger(table).ensure_table()
    seed = Seeder(table)
    old, recent = timedelta(days=31), timedelta(days=29)
    await seed.accepted(old, request("a@contoso.example", "OLD1"), rid(1))
    await seed.set(rid(1), Status="succeeded")
    await seed.accepted(old, request("b@contoso.example", "OLD2"), rid(2))
    await seed.set(rid(2), Status="refused")
    await seed.accepted(old, request("c@contoso.example", "OLD3"), rid(3))
    await seed.set(rid(3), Status="running", LeaseExpiresAt=datetime.now(UTC) + timedelta(1))
    await seed.accepted(recent, request("d@contoso.example", "NEW1"), rid(4))
    await seed.set(rid(4), Status="failed")
    await Ledger(table, clock=lambda: datetime.now(UTC) - old).record_run({"queued": 1})
    await Ledger(table, clock=lambda: datetime.now(UTC) - recent).record_run({"queued": 2})

    await run_cleanup()

    rows = [e async for e in table.list_entities()]
    resets = sorted(e["RowKey"] for e in rows if e.get("Kind") == "reset")
    assert resets == [rid(3), rid(4)]  # the pending one is kept whatever its age
    index = sorted(e["ResetId"] for e in rows if e["RowKey"].startswith("idempotency-"))
    assert index == [rid(3), rid(4)]  # the entries of the deleted rows went with them
    runs = [e for e in rows if e["PartitionKey"] == RUN_PARTITION]
    assert sorted(e.get("queued", 0) for e in runs) == [0, 2]  # this run's summary and the recent
    latest = await latest_run(table)
    assert latest["purged"] == 5  # two resets, their two index entries, one summary


# -- the run itself -------------------------------------------------------------------------


async def test_a_failing_part_is_reported_and_the_others_still_run(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    table: TableClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    settings(monkeypatch, RESET_GROUP_ID="0f8fad5b-d9cb-469f-a165-70867728950e")  # no such group
    await Ledger(table).ensure_table()
    await Seeder(table).accepted(
        timedelta(hours=1), request("alex.wilber@contoso.example", "LOST"), rid(1)
    )

    messages = await run_cleanup()

    assert [m.reset_id for m in messages] == [rid(1)]  # the re-drive still ran
    latest = await latest_run(table)
    errors = json.loads(latest["errors"])
    assert len(errors) == 1 and errors[0].startswith("group sweep: ")
    summary = [r for r in caplog.records if r.getMessage().startswith("mfa-reset-cleanup ")]
    assert len(summary) == 1 and summary[0].levelno == logging.ERROR


def test_cleanup_settings_are_checked():
    from shared.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="RESET_GROUP_ID"):
        Settings.from_environ({"RESET_GROUP_ID": "MFA reset pending"})
    with pytest.raises(SettingsError, match="CLEANUP_SCHEDULE"):
        Settings.from_environ({"CLEANUP_SCHEDULE": "0 2 * * *"})  # five fields: Unix cron
    with pytest.raises(SettingsError, match="RETENTION_DAYS"):
        Settings.from_environ({"RETENTION_DAYS": "1"})
    parsed = Settings.from_environ({"RESET_GROUP_ID": "0F8FAD5B-D9CB-469F-A165-70867728950E"})
    assert parsed.reset_group_id == "0f8fad5b-d9cb-469f-a165-70867728950e"


async def test_a_member_whose_reset_fails_stays_in_the_group(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    (member,) = add_members(tenant, reset_group, 1)  # staff000 has a phone
    graph_emulator.faults.add(Fault(method="DELETE", path="phoneMethods", status=403, times=None))

    await deliver(queue_host, app_env, await run_cleanup())

    assert (await only_reset(table)).status is ResetStatus.failed
    assert tenant.members(reset_group) == [member]
    assert not [r for r in graph_emulator.writes() if "/groups/" in r.path]


async def test_overlapping_runs_redrive_a_stuck_reset_once(
    app_env: StorageNames, table: TableClient
):
    await Ledger(table).ensure_table()
    seed = Seeder(table)
    for n in range(5):
        await seed.accepted(timedelta(hours=2), request(f"s{n}@contoso.example", f"S{n}"), rid(n))

    first, second = await asyncio.gather(run_cleanup(), run_cleanup())

    queued = sorted(m.reset_id for m in [*first, *second])
    assert queued == [rid(n) for n in range(5)]
    assert [(await stored(Ledger(table), n)).redrives for n in range(5)] == [1] * 5


async def test_a_user_whose_removal_keeps_failing_is_not_reset_again(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    (member,) = add_members(tenant, reset_group, 1)
    graph_emulator.faults.add(Fault(method="DELETE", path=r"/\$ref$", status=503, times=None))
    await deliver(queue_host, app_env, await run_cleanup())
    assert (await only_reset(table)).group_removal == "failed"

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    run = CleanupRun(
        Ledger(table, clock=lambda: tomorrow), get_gateway, get_settings(), clock=lambda: tomorrow
    )
    await run.run()

    assert run.messages == []  # the MFA reset is done; only the removal is outstanding
    assert run.summary.already_requested == 1
    assert tenant.members(reset_group) == [member]


async def test_a_group_past_the_hourly_cap_defers_the_rest_without_refusing_anyone(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
    monkeypatch: pytest.MonkeyPatch,
):
    settings(monkeypatch, RESETS_PER_HOUR="5")
    add_members(tenant, reset_group, 30)

    messages = await run_cleanup()

    assert len(messages) == 5
    rows = [e async for e in table.query_entities("Kind eq 'reset'")]
    assert len(rows) == 5
    totals = await run_totals(table)
    # The page's places were reserved before anyone was asked for: the cap stops the sweep
    # without a refused request; the summary (a warning) says how many wait.
    assert (totals["queued"], totals["refused"], totals["deferred"]) == (5, 0, 25)


async def test_a_synchronous_failure_is_not_run_later_behind_the_callers_back(
    app_env: StorageNames, graph_emulator: GraphEmulator
):
    graph_emulator.faults.add(Fault(method="GET", path=r"/users/", status=503, times=None))
    body = {"user": "alex.wilber@contoso.example", "ticket_id": "INC77", "requested_by": "desk"}
    answer, _ = await submit({**body, "mode": "sync"})
    assert answer.status_code == 502  # the caller is told; it may submit again
    graph_emulator.faults.clear()

    assert await run_cleanup() == []


async def test_a_reset_whose_limits_were_never_counted_is_given_up_not_run(
    app_env: StorageNames, table: TableClient
):
    await Ledger(table).ensure_table()
    await Seeder(table).accepted(timedelta(hours=1), request("u@contoso.example", "U"), rid(1))
    await Seeder(table).set(rid(1), Admitted=False)

    assert await run_cleanup() == []
    record = await stored(Ledger(table), 1)
    assert record.status is ResetStatus.failed
    assert "never counted" in str(record.last_error)


async def timer_pages() -> list[str]:
    pages: Out[list[str]] = Out()
    await handler("scheduled_cleanup")(TimerStub(), Out(), Out(), pages)
    return list(pages.get()) if pages.is_set else []


async def admit(page: str) -> list[WorkItem]:
    admitted: Out[list[str]] = Out()
    await handler("admit_sweep_page")(func.QueueMessage(body=page.encode(), id="p"), admitted)
    return [WorkItem.model_validate_json(m) for m in (admitted.get() if admitted.is_set else [])]


async def test_a_sweep_cut_short_is_finished_by_the_next_run_and_nobody_is_admitted_twice(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    members = add_members(tenant, reset_group, 250)
    pages = await timer_pages()
    assert len(pages) == 3  # the run admitted nobody itself: 100, 100 and 50 to go
    assert [r async for r in table.query_entities("Kind eq 'reset'")] == []

    first = await admit(pages[0])
    again = await admit(pages[0])  # the same page delivered twice
    assert len(first) == 100 and again == []
    # The other pages are lost (the run died before they went out, or they went to poison).
    pages = await timer_pages()
    assert len(pages) == 2
    rest = [m for page in pages for m in await admit(page)]

    queued = [m.request.user for m in [*first, *rest]]
    assert sorted(queued) == sorted(members)  # every member once
    rows = [e async for e in table.query_entities("Kind eq 'reset'")]
    assert len(rows) == 250
    assert await timer_pages() == []  # all requested today: nothing left to queue


async def test_a_page_the_app_did_not_sign_admits_nobody(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
    caplog: pytest.LogCaptureFixture,
):
    add_members(tenant, reset_group, 3)
    (page,) = await timer_pages()
    forged = json.loads(page)
    victim = tenant.add_user("victim@contoso.example", display_name="Victim")
    forged["members"][0] = {"id": victim.id, "user_principal_name": "victim@contoso.example"}
    other_group = {**json.loads(page), "group_id": "0f8fad5b-d9cb-469f-a165-70867728950e"}

    for body in (forged, other_group, {**json.loads(page), "signature": "0" * 64}):
        assert await admit(json.dumps(body)) == []
    assert [r async for r in table.query_entities("Kind eq 'reset'")] == []
    assert (
        sum("sweep page" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records) == 3
    )
    assert len(await admit(page)) == 3  # the genuine page still works


async def test_a_page_delivered_twice_gives_back_the_places_it_did_not_use(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    monkeypatch: pytest.MonkeyPatch,
):
    settings(monkeypatch, RESETS_PER_HOUR="10")
    add_members(tenant, reset_group, 4)
    (page,) = await timer_pages()
    assert len(await admit(page)) == 4
    assert await admit(page) == []  # the second delivery finds all four admitted

    # Its four reserved places went back: six are left of the ten, not two.
    ledger = await get_ledger()
    assert await ledger.reserve_hour(10, cap=10) == 6


async def test_a_page_put_back_after_the_next_run_was_due_admits_nobody(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    """A signed page copied from the queue (or its poison queue) and put back a day later: the
    next scheduled run has listed the group afresh since, so the old page is superseded."""
    add_members(tenant, reset_group, 3)
    (page,) = await timer_pages()
    later = datetime.now(UTC) + timedelta(days=1, hours=1)
    monkeypatch.setattr("shared.triggers.timer.utc_now", lambda: later)

    assert await admit(page) == []

    assert [r async for r in table.query_entities("Kind eq 'reset'")] == []
    assert any("expired" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)


async def test_a_page_admits_once_even_after_its_rows_are_gone(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    """Its members' rows purged (retention, or by someone who can write the table), a copy of
    a page already admitted must not request them again."""
    add_members(tenant, reset_group, 3)
    (page,) = await timer_pages()
    assert len(await admit(page)) == 3
    async for row in table.query_entities("PartitionKey eq 'reset'"):
        await table.delete_entity(row["PartitionKey"], row["RowKey"])

    assert await admit(page) == []
    assert [r async for r in table.query_entities("Kind eq 'reset'")] == []


async def test_a_member_taken_out_of_the_group_before_admission_is_not_reset(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    reset_group: str,
    table: TableClient,
):
    withdrawn, *staying = add_members(tenant, reset_group, 3)
    (page,) = await timer_pages()
    group = tenant.group(reset_group)
    assert group is not None
    group.members.remove(withdrawn)  # taken out: the request was withdrawn

    admitted = await admit(page)

    assert sorted(m.request.user for m in admitted) == sorted(staying)
    rows = [r async for r in table.query_entities("Kind eq 'reset'")]
    assert withdrawn not in {r["UserId"] for r in rows}


async def test_a_redrive_takes_a_place_under_the_hourly_cap(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    table: TableClient,
    monkeypatch: pytest.MonkeyPatch,
):
    settings(monkeypatch, RESETS_PER_HOUR="1")
    await Ledger(table).ensure_table()
    seed = Seeder(table, graph_emulator.tenant)
    for n, user in enumerate(("alex.wilber@contoso.example", "adele.vance@contoso.example")):
        await seed.accepted(timedelta(hours=1), request(user, f"RD{n}"), rid(n))
        await seed.set(rid(n), Status="failed", Retryable=True, LastError="Graph 503")

    messages = await run_cleanup()

    assert len(messages) == 1  # one place in the hour: the other waits for a later run
    assert (await latest_run(table))["redrive_deferred"] == 1
