"""Signed work items: the queue worker runs only what the app admitted.

An attacker with write access to the storage queue (but not the app's signing key) forges
messages; none of them may change a user, fail a reset, or be counted against anyone.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient
from pydantic import SecretStr

from emulator import GraphEmulator
from emulator.azurite import Azurite
from shared.keyring import Keyring
from shared.ledger import PARTITION
from shared.settings import get_settings
from shared.signing import WorkItem
from tests.support.app import handler
from tests.support.bindings import OutNotSetError
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, problem, status, submit

ALEX = "alex.wilber@contoso.example"
ADELE = "adele.vance@contoso.example"
BODY = {"user": ALEX, "ticket_id": "INC0099", "requested_by": "desk@contoso.example"}
ATTACKER_PHONE = "+1 4255550166"


async def accepted(queue_host: QueueHost, names: StorageNames) -> tuple[str, dict[str, Any]]:
    """A pending reset and its genuine message (held back, not yet delivered)."""
    response, queue = await submit(BODY)
    assert response.status_code == 202
    return body_of(response)["id"], json.loads(queue.get())


async def deliver(queue_host: QueueHost, queue: str, message: Any, function: str) -> None:
    await queue_host.send(queue, message if isinstance(message, str) else json.dumps(message))
    await queue_host.drain(queue, handler(function))


def forged_request(genuine: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**genuine, "request": {**genuine["request"], **changes}}


@pytest.mark.parametrize(
    "forge",
    [
        # Another user and the attacker's phone, under the pending reset's id and signature.
        lambda m: forged_request(m, user=ADELE, new_phone={"number": ATTACKER_PHONE}),
        # The same target, the attacker's phone added.
        lambda m: forged_request(m, new_phone={"number": ATTACKER_PHONE}),
        # The genuine request with a signature of the attacker's making.
        lambda m: {**m, "signature": "0" * 64},
        # Asking for what a queued reset never is.
        lambda m: forged_request(m, dry_run=True),
        lambda m: forged_request(m, mode="sync"),
    ],
    ids=["other-user", "added-phone", "made-up-signature", "dry-run", "sync"],
)
async def test_a_forged_message_changes_nothing_and_is_audited(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    caplog: pytest.LogCaptureFixture,
    forge: Any,
):
    reset_id, genuine = await accepted(queue_host, app_env)
    with caplog.at_level("INFO"):
        await deliver(queue_host, app_env.queue, forge(genuine), "process_reset")

    assert graph_emulator.writes() == []
    record = body_of(await status(reset_id))
    assert (record["status"], record["attempts"]) == ("accepted", 0)  # untouched
    refusals = [r for r in caplog.records if "forged-work-item" in r.getMessage()]
    assert refusals and refusals[0].levelname == "ERROR"

    # The genuine message still runs the reset as admitted.
    await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert body_of(await status(reset_id))["status"] == "succeeded"
    alex = graph_emulator.tenant.user(ALEX)
    assert alex is not None
    numbers = [m.get("phoneNumber") for m in graph_emulator.tenant.methods(alex.id)]
    assert ATTACKER_PHONE not in numbers


async def test_a_forged_poison_message_cannot_fail_a_reset(
    app_env: StorageNames, queue_host: QueueHost, graph_emulator: GraphEmulator
):
    reset_id, genuine = await accepted(queue_host, app_env)
    for forged in (
        {"reset_id": reset_id},  # the old shape: an id was enough
        forged_request(genuine, user=ADELE),
        {**genuine, "signature": "f" * 64},
    ):
        await deliver(queue_host, app_env.poison, forged, "reset_poisoned")
        assert body_of(await status(reset_id))["status"] == "accepted"

    await deliver(queue_host, app_env.poison, genuine, "reset_poisoned")
    assert body_of(await status(reset_id))["status"] == "failed"


async def test_a_refused_reset_is_not_run_by_its_message(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
):
    """A limit refusal leaves a row; a message for it, even correctly signed, runs nothing."""
    reset_id, genuine = await accepted(queue_host, app_env)
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=app_env.table
    ) as table:
        await table.update_entity(
            {"PartitionKey": PARTITION, "RowKey": reset_id, "Status": "refused"},
            mode=UpdateMode.MERGE,
        )
    await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert graph_emulator.writes() == []


async def test_rotation_keeps_pending_resets_runnable_with_the_previous_key(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
):
    reset_id, genuine = await accepted(queue_host, app_env)
    old_key = get_settings().signing_keys()[0]
    new_key = "rotated-signing-key-abcdefghijklmnopqrstuvwxyz"
    monkeypatch.setenv("WORK_ITEM_SIGNING_KEY", new_key)
    get_settings.cache_clear()

    await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert body_of(await status(reset_id))["status"] == "accepted"  # unknown key: refused

    monkeypatch.setenv("WORK_ITEM_SIGNING_KEY_PREVIOUS", old_key.get_secret_value())
    get_settings.cache_clear()
    await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert body_of(await status(reset_id))["status"] == "succeeded"
    # New admissions are signed with the new key.
    _, queue = await submit({**BODY, "user": ADELE, "ticket_id": "INC0100"})
    item = WorkItem.model_validate_json(queue.get())
    assert item.genuine(Keyring([SecretStr(new_key)]))
    assert not item.genuine(Keyring([old_key]))


async def test_no_signing_key_means_no_reset_is_accepted(
    app_env: StorageNames, graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("WORK_ITEM_SIGNING_KEY")
    get_settings.cache_clear()
    response, queue = await submit(BODY)
    assert response.status_code == 500
    assert problem(response)["type"] == "urn:mfa-reset:problem:configuration-error"
    with pytest.raises(OutNotSetError):
        queue.get()  # nothing queued
    assert graph_emulator.requests == []


@pytest.mark.parametrize("ends", ["succeeded", "refused"])
async def test_a_duplicate_delivery_after_the_end_is_dropped_without_an_alarm(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    ends: str,
):
    """Queues deliver at least once: the genuine message again, after its reset finished or
    was refused by the worker (a protected account), is not a forgery."""
    reset_id, genuine = await accepted(queue_host, app_env)
    if ends == "refused":
        monkeypatch.setenv("DENIED_USERS", ALEX)
        get_settings.cache_clear()
    await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert body_of(await status(reset_id))["status"] == ends
    writes = len(graph_emulator.writes())
    with caplog.at_level("INFO"):
        await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert len(graph_emulator.writes()) == writes
    assert body_of(await status(reset_id))["attempts"] == 1
    assert "forged-work-item" not in caplog.text


UNRESOLVED = (
    "@Microsoft.KeyVault(SecretUri=https://kv-mfareset-x7.vault.azure.net/secrets/"
    "work-item-signing-key/)"
)


@pytest.mark.parametrize("setting", ["WORK_ITEM_SIGNING_KEY", "WORK_ITEM_SIGNING_KEY_PREVIOUS"])
async def test_an_unresolved_key_vault_reference_is_no_key(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    setting: str,
):
    """App Service leaves a reference it could not resolve in the setting as its text: long
    enough to pass for a key, and derivable from resource names. Nothing is signed or run
    with it; the error names the setting, never its value."""
    reset_id, genuine = await accepted(queue_host, app_env)
    monkeypatch.setenv(setting, UNRESOLVED)
    get_settings.cache_clear()

    response, queue = await submit({**BODY, "user": ADELE, "ticket_id": "INC0200"})
    assert response.status_code == 500
    assert problem(response)["type"] == "urn:mfa-reset:problem:configuration-error"
    assert not queue.is_set

    with caplog.at_level("INFO"):
        await deliver(queue_host, app_env.queue, genuine, "process_reset")
    assert graph_emulator.writes() == []
    assert body_of(await status(reset_id))["status"] == "accepted"
    assert setting in caplog.text
    assert "kv-mfareset-x7" not in caplog.text
