"""An attacker who can write to the ledger table (a storage data-plane role; no key, no queue).

They can merge any column onto any row. Nothing they write may make the app act on another
user, act again on a finished reset, or act on a work item past its time: the worker acts only
on what the app signed and on rows whose state the app sealed.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from emulator import GraphEmulator
from emulator.azurite import Azurite
from shared.clock import utc_now
from tests.support.app import handler
from tests.support.audit import audit_events
from tests.support.bindings import Out, TimerStub
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, status, submit

ALEX = "alex.wilber@contoso.example"
ADELE = "adele.vance@contoso.example"
REQUESTER_PHONE = "+14255550166"
BODY = {
    "user": ALEX,
    "ticket_id": "INC0700",
    "requested_by": "desk@contoso.example",
    "new_phone": {"number": REQUESTER_PHONE},
}


async def merge(azurite: Azurite, names: StorageNames, reset_id: str, **columns: Any) -> None:
    """What a table writer does: merge columns onto a row, without the app's key."""
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=names.table
    ) as table:
        await table.update_entity(
            {"PartitionKey": "reset", "RowKey": reset_id, **columns}, mode=UpdateMode.MERGE
        )


async def run_message(queue_host: QueueHost, names: StorageNames, message: str) -> None:
    await queue_host.send(names.queue, message)
    await queue_host.drain(names.queue, handler("process_reset"))


def forged_events(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        e
        for e in audit_events(caplog)
        if str(e.get("detail") or "").startswith("forged-work-item") and e["_level"] == "ERROR"
    ]


async def test_a_row_pointed_at_another_user_makes_the_genuine_message_do_nothing(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    adele = graph_emulator.tenant.user(ADELE)
    assert adele is not None
    adele_methods = list(graph_emulator.tenant.methods(adele.id))
    response, queue = await submit(BODY)
    reset_id = body_of(response)["id"]

    await merge(azurite, app_env, reset_id, UserId=adele.id)
    await run_message(queue_host, app_env, queue.get())

    assert graph_emulator.writes() == []
    assert graph_emulator.tenant.methods(adele.id) == adele_methods
    assert forged_events(caplog)
    assert body_of(await status(reset_id))["status"] == "accepted"


@pytest.mark.parametrize(
    "columns",
    [
        {"CallerAppId": "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41", "CallerAuth": "entra-id-token"},
        {"AcceptedAt": utc_now() - timedelta(minutes=5)},
        {"SweepGroupId": "0b3c8a62-7d4e-4f0a-9c1b-2a3d4e5f6071"},
    ],
    ids=["caller", "admission-time", "sweep-group"],
)
async def test_any_signed_column_changed_on_the_row_refuses_the_message(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
    columns: dict[str, Any],
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    response, queue = await submit({**BODY, "ticket_id": "INC0701"})
    reset_id = body_of(response)["id"]
    await merge(azurite, app_env, reset_id, **columns)
    await run_message(queue_host, app_env, queue.get())
    assert graph_emulator.writes() == []
    assert forged_events(caplog)


async def run_schedule() -> list[str]:
    queue: Out[list[str]] = Out()
    await handler("scheduled_cleanup")(TimerStub(), queue, Out(), Out())
    return list(queue.get()) if queue.is_set else []


async def test_a_finished_reset_flipped_back_to_retryable_is_reported_never_redriven(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    response, queue = await submit({**BODY, "new_phone": None, "ticket_id": "INC0702"})
    reset_id = body_of(response)["id"]
    await run_message(queue_host, app_env, queue.get())
    assert body_of(await status(reset_id))["status"] == "succeeded"

    await merge(
        azurite,
        app_env,
        reset_id,
        Status="failed",
        Retryable=True,
        Redrives=0,
    )
    for _ in range(2):  # every run: reported, never re-queued
        assert await run_schedule() == []
    refusals = forged_events(caplog)
    assert len(refusals) == 2
    assert all(e["reset_id"] == reset_id for e in refusals)


async def test_a_work_item_put_back_after_its_lifetime_is_refused(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    response, queue = await submit({**BODY, "ticket_id": "INC0703"})
    reset_id = body_of(response)["id"]
    message = queue.get()
    later = utc_now() + timedelta(days=7, minutes=1)
    monkeypatch.setattr("shared.triggers.queue.utc_now", lambda: later, raising=False)

    await run_message(queue_host, app_env, message)

    assert graph_emulator.writes() == []
    (refusal,) = forged_events(caplog)
    assert "expired" in refusal["detail"]
    assert json.loads(message)["reset_id"] == reset_id
