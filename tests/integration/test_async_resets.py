"""Asynchronous, exactly-once resets: HTTP accept -> queue -> worker -> ledger -> status.

Everything real but the Functions host: the functions are indexed from function_app and called
with the host's types, the queue and the ledger live in Azurite, and Graph is the emulator. The
host's queue extension (deliveries, dequeue counts, poison queue, base64 encoding from host.json)
is played by tests.support.functions_host.QueueHost.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from emulator import Fault, GraphEmulator, Tenant
from emulator.azurite import Azurite
from shared.ledger import PARTITION, LeaseHeldError, get_ledger
from tests.support.app import handler, indexed
from tests.support.bindings import Out
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, status, submit

ALEX = "alex.wilber@contoso.example"
ADELE = "adele.vance@contoso.example"
BODY = {"user": ALEX, "ticket_id": "INC0042", "requested_by": "desk@contoso.example"}


def functions() -> dict[str, Any]:
    return {name: handler(name) for name in indexed()}


async def enqueue(host: QueueHost, names: StorageNames, queue: Out[str]) -> None:
    """What the host does with the output binding once the function has returned."""
    await host.send(names.queue, queue.get())


def writes_per_path(emu: GraphEmulator) -> Counter[str]:
    return Counter(r.path for r in emu.writes() if r.status < 400)


async def table(azurite: Azurite, names: StorageNames) -> TableClient:
    return TableClient.from_connection_string(azurite.connection_string, table_name=names.table)


async def test_accept_queue_process_then_status(
    app_env: StorageNames, queue_host: QueueHost, graph_emulator: GraphEmulator
):
    response, queue = await submit(BODY)

    assert response.status_code == 202
    accepted = body_of(response)
    reset_id = accepted["id"]
    assert accepted["status"] == "accepted"
    assert response.headers["Location"] == f"https://mfa-reset.example/api/resets/{reset_id}"
    assert int(response.headers["Retry-After"]) > 0
    # Before the worker runs, admission has only read who the user is.
    assert [(r.method, r.path) for r in graph_emulator.requests] == [("GET", f"/v1.0/users/{ALEX}")]

    pending = await status(reset_id)
    assert pending.status_code == 202
    assert pending.headers["Retry-After"]

    await enqueue(queue_host, app_env, queue)
    report = await queue_host.drain(app_env.queue, functions()["process_reset"])
    assert len(report.processed) == 1
    assert report.failed == []

    done = await status(reset_id)
    assert done.status_code == 200
    outcome = body_of(done)
    assert outcome["status"] == "succeeded"
    assert outcome["attempts"] == 1
    assert outcome["remaining_methods"] == []
    assert outcome["user"]["user_principal_name"] == ALEX
    assert {s["result"] for s in outcome["steps"]} == {"done"}


async def test_duplicate_submission_returns_the_same_reset(
    app_env: StorageNames, queue_host: QueueHost, graph_emulator: GraphEmulator
):
    first, queue = await submit(BODY, {"Idempotency-Key": "sn-INC0042-1"})
    again, _ = await submit(BODY, {"Idempotency-Key": "sn-INC0042-1"})
    reset_id = body_of(first)["id"]

    assert body_of(again)["id"] == reset_id
    assert again.headers["Idempotent-Replayed"] == "true"

    await enqueue(queue_host, app_env, queue)
    await queue_host.drain(app_env.queue, functions()["process_reset"])
    replay, leftover = await submit(BODY, {"Idempotency-Key": "sn-INC0042-1"})
    assert replay.status_code == 200
    assert body_of(replay)["status"] == "succeeded"
    assert not leftover.is_set  # a finished reset is not queued again

    different = {**BODY, "revoke_sessions": False}
    conflict, _ = await submit(different, {"Idempotency-Key": "sn-INC0042-1"})
    assert conflict.status_code == 422
    assert body_of(conflict)["type"] == "urn:mfa-reset:problem:idempotency-key-reused"
    assert len([r for r in graph_emulator.writes() if "revokeSignInSessions" in r.path]) == 1


async def test_same_ticket_and_user_without_a_key_is_one_reset(
    app_env: StorageNames, graph_emulator: GraphEmulator
):
    first, _ = await submit(BODY)
    second, second_queue = await submit(BODY)
    assert body_of(second)["id"] == body_of(first)["id"]
    # Still accepted, so the message is queued again in case the first was lost.
    assert json.loads(second_queue.get())["reset_id"] == body_of(first)["id"]
    other_ticket, _ = await submit({**BODY, "ticket_id": "INC0043"})
    assert body_of(other_ticket)["id"] != body_of(first)["id"]


async def test_five_workers_given_one_message_run_it_once(
    app_env: StorageNames, queue_host: QueueHost, graph_emulator: GraphEmulator
):
    response, queue = await submit(BODY)
    reset_id = body_of(response)["id"]
    process = functions()["process_reset"]

    def delivery(n: int) -> func.QueueMessage:
        return func.QueueMessage(body=queue.get().encode(), id=f"dup-{n}")

    results = await asyncio.gather(
        *(process(delivery(n), Out()) for n in range(5)), return_exceptions=True
    )

    held = [r for r in results if isinstance(r, LeaseHeldError)]
    assert results.count(None) + len(held) == 5
    assert len(held) >= 1
    assert all(count == 1 for count in writes_per_path(graph_emulator).values())
    deletes = [r for r in graph_emulator.writes() if r.method == "DELETE" and r.status == 204]
    assert len(deletes) == 3  # Alex's three methods, each once
    # The held deliveries come back later and find the reset finished: no further writes.
    writes_before = len(graph_emulator.writes())
    for n in range(len(held)):
        await process(delivery(10 + n), Out())
    assert len(graph_emulator.writes()) == writes_before
    assert body_of(await status(reset_id))["status"] == "succeeded"


async def test_a_killed_run_resumes_where_it_stopped(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    azurite: Azurite,
):
    adele = tenant.user(ADELE)
    assert adele is not None
    response, queue = await submit({**BODY, "user": ADELE})
    reset_id = body_of(response)["id"]
    # Graph refuses the mobile phone in the first round (as it does a default method while
    # others remain); the second round, which deletes it, hangs: the worker is killed between
    # the round it finished and the one it could not.
    mobile = "/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7"
    graph_emulator.faults.add(Fault(method="DELETE", path=mobile, status=400, times=1))
    graph_emulator.faults.add(Fault(method="DELETE", path=mobile, status=0, delay=30))
    process = functions()["process_reset"]
    message = func.QueueMessage(body=queue.get().encode(), id="m1")
    worker = asyncio.create_task(process(message, Out()))
    async with asyncio.timeout(10):
        # The emulator answers from its own thread; there is nothing to await but time.
        while len([r for r in graph_emulator.requests if mobile in r.path]) < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await worker

    row = body_of(await status(reset_id))
    assert row["status"] == "running"
    # The first round is recorded, as one: seven deletions and the revocation done.
    first_round = [s for s in row["steps"] if s["result"] == "done"]
    assert len(first_round) == 8
    assert {s["action"] for s in first_round} == {"delete_method", "revoke_sessions"}
    # A redelivery while the dead worker's lease is live waits for it...
    with pytest.raises(LeaseHeldError):
        await process(message, Out())
    # ...and once the lease has expired, takes over.
    async with await table(azurite, app_env) as client:
        await client.update_entity(
            {
                "PartitionKey": PARTITION,
                "RowKey": reset_id,
                "LeaseExpiresAt": datetime.now(UTC) - timedelta(seconds=1),
            },
            mode=UpdateMode.MERGE,
        )
    graph_emulator.faults.clear()
    await process(message, Out())

    final = body_of(await status(reset_id))
    assert final["status"] == "succeeded", final
    assert final["attempts"] == 2
    deleted = [r.path for r in graph_emulator.requests if r.method == "DELETE" and r.status == 204]
    assert len(deleted) == len(set(deleted)) == 8  # every method once, none twice
    assert {s["method_id"] for s in final["steps"] if s["action"] == "delete_method"} == {
        p.rsplit("/", 1)[1] for p in deleted
    }
    assert tenant.revocations(adele.id) == 1


async def test_a_message_that_keeps_failing_ends_in_the_poison_path(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit(BODY)
    reset_id = body_of(response)["id"]
    # Graph goes down after admission (which resolved the user) and stays down.
    graph_emulator.faults.add(
        Fault(method="GET", path="/users/", status=503, retry_after="0", times=None)
    )
    await enqueue(queue_host, app_env, queue)

    report = await queue_host.drain(app_env.queue, functions()["process_reset"])
    assert len(report.poisoned) == 1
    assert len(report.failed) == queue_host.max_dequeue_count

    running = body_of(await status(reset_id))
    assert running["status"] == "running"  # released for another attempt, not yet given up
    assert "503" in running["detail"] or "serviceNotAvailable" in running["detail"]

    poison = await queue_host.drain(app_env.poison, functions()["reset_poisoned"])
    assert len(poison.processed) == 1
    final = await status(reset_id)
    assert final.status_code == 200
    failed = body_of(final)
    assert failed["status"] == "failed"
    assert "gave up" in failed["detail"]
    assert any(r.levelname == "ERROR" and reset_id in r.getMessage() for r in caplog.records)
    assert graph_emulator.writes() == []


async def test_status_of_an_unknown_reset_is_404(app_env: StorageNames):
    for reset_id in ("0f8fad5b-d9cb-469f-a165-70867728950e", "not-an-id"):
        response = await status(reset_id)
        assert response.status_code == 404
        assert body_of(response)["type"] == "urn:mfa-reset:problem:reset-not-found"


async def test_sync_mode_answers_inline_and_is_recorded(
    app_env: StorageNames, graph_emulator: GraphEmulator, tenant: Tenant
):
    body = {**BODY, "mode": "sync", "temporary_access_pass": {"lifetime_minutes": 30}}
    response, queue = await submit(body)

    assert response.status_code == 200
    outcome = body_of(response)
    alex = tenant.user(ALEX)
    assert alex is not None
    tap = tenant.last_tap_value(alex.id)
    assert tap
    assert outcome["temporary_access_pass"]["value"] == tap
    assert not queue.is_set  # ran inline: nothing queued

    stored = await status(outcome["id"])
    assert stored.status_code == 200
    assert body_of(stored)["status"] == "succeeded"
    assert tap not in stored.get_body().decode()

    replay, _ = await submit(body)
    assert replay.status_code == 200
    assert body_of(replay)["id"] == outcome["id"]
    assert (
        len([r for r in graph_emulator.writes() if r.path.endswith("temporaryAccessPassMethods")])
        == 1
    )


async def test_ledger_rows_hold_no_secrets(
    app_env: StorageNames, azurite: Azurite, tenant: Tenant, graph_emulator: GraphEmulator
):
    body = {
        **BODY,
        "mode": "sync",
        "new_phone": {"number": "+14255550199"},
        "temporary_access_pass": {"lifetime_minutes": 30},
    }
    response, _ = await submit(body)
    assert response.status_code == 200
    alex = tenant.user(ALEX)
    assert alex is not None
    tap = tenant.last_tap_value(alex.id)
    assert tap
    async with await table(azurite, app_env) as client:
        rows = [json.dumps(dict(e), default=str) async for e in client.list_entities()]
    assert rows
    dump = "\n".join(rows)
    assert tap not in dump
    assert "4255550199" not in dump
    assert "+1 ********99" in dump  # masked, still recognisable


async def test_poison_leaves_a_reset_with_a_live_lease_to_its_worker(
    app_env: StorageNames, graph_emulator: GraphEmulator
):
    response, queue = await submit(BODY)
    reset_id = body_of(response)["id"]
    ledger = await get_ledger()
    await ledger.claim(reset_id, "worker-still-running", lease_seconds=600)

    await functions()["reset_poisoned"](
        func.QueueMessage(body=queue.get().encode(), id="p1"), Out()
    )

    assert body_of(await status(reset_id))["status"] == "running"


async def test_an_invalid_message_never_repeats_its_content(
    app_env: StorageNames, queue_host: QueueHost, caplog: pytest.LogCaptureFixture
):
    """Pydantic's own error text quotes the input; the host would log it with the phone."""
    forged = {
        "reset_id": "5f0c2b1e-0000-4000-8000-000000000001",
        "request": {**BODY, "new_phone": {"number": "2065550188"}},  # not E.164
    }
    await queue_host.send(app_env.queue, json.dumps(forged))
    with caplog.at_level("DEBUG"):
        report = await queue_host.drain(app_env.queue, functions()["process_reset"])

    assert report.failed  # it still fails, and reaches the poison queue after the retries
    assert all("is not a reset message" in error for _, error in report.failed)
    seen = " ".join(error for _, error in report.failed) + caplog.text
    assert "2065550188" not in seen
    assert "request.new_phone.number" in caplog.text


async def test_a_replay_with_another_phone_number_or_callback_path_is_a_conflict(
    app_env: StorageNames, graph_emulator: GraphEmulator
):
    """The ledger keeps a phone number masked (+1 ********66) and a callback URL cut to its
    host: a second request that differs only where the mask hides it is a different request,
    not a replay of the first."""
    first_phone = {**BODY, "new_phone": {"number": "+14255550166"}}
    other_phone = {**BODY, "new_phone": {"number": "+14255550266"}}  # same mask
    first, _ = await submit(first_phone, {"Idempotency-Key": "sn-INC0042-phone"})
    assert first.status_code == 202
    replay, _ = await submit(first_phone, {"Idempotency-Key": "sn-INC0042-phone"})
    assert replay.headers["Idempotent-Replayed"] == "true"

    conflict, queue = await submit(other_phone, {"Idempotency-Key": "sn-INC0042-phone"})

    assert conflict.status_code == 422
    assert body_of(conflict)["type"] == "urn:mfa-reset:problem:idempotency-key-reused"
    assert not queue.is_set
