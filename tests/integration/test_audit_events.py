"""One structured audit event per request, with who asked, who called, whom, and what happened."""

from __future__ import annotations

import json
import logging

import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.settings import get_settings
from tests.support.app import handler
from tests.support.audit import audit_events
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, submit
from tests.support.paths import HOST_JSON

ALEX = "alex.wilber@contoso.example"
ADELE = "adele.vance@contoso.example"
BODY = {"user": ALEX, "ticket_id": "INC0042", "requested_by": "desk@contoso.example"}
FUNCTION_KEY = {
    "authenticated_by": "function-key",
    "app_id": None,
    "name": None,
    "user_id": None,
    "user_name": None,
}


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mfa_reset.audit")


async def test_an_async_reset_is_accepted_then_executed(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit(BODY)
    reset_id = body_of(response)["id"]
    (accepted,) = audit_events(caplog)
    assert accepted["event"] == "accepted"
    assert accepted["_level"] == "INFO"
    assert (accepted["reset_id"], accepted["ticket_id"]) == (reset_id, "INC0042")
    assert (accepted["requested_by"], accepted["target"]) == ("desk@contoso.example", ALEX)
    assert accepted["caller"] == FUNCTION_KEY
    assert accepted["steps"] == []

    await queue_host.send(app_env.queue, queue.get())
    await queue_host.drain(app_env.queue, handler("process_reset"))

    accepted_again, executed = audit_events(caplog)
    assert accepted_again == accepted
    assert executed["event"] == "executed"
    assert executed["status"] == "succeeded"
    assert executed["caller"] == FUNCTION_KEY  # from the ledger row: the worker has no caller
    alex = tenant.user(ALEX)
    assert alex is not None
    assert executed["user_id"] == alex.id
    deleted = {s["method_id"] for s in executed["steps"] if s["action"] == "delete_method"}
    assert deleted and all(s["result"] == "done" for s in executed["steps"])
    assert "revoke_sessions" in {s["action"] for s in executed["steps"]}
    # The same fields, one per custom dimension, for queries that do not parse the message.
    dims = executed["_dimensions"]
    assert dims["audit_event"] == "executed"
    assert dims["audit_ticket_id"] == "INC0042"
    assert dims["audit_target"] == ALEX
    assert '"app_id": null' in dims["audit_caller"]


async def test_a_replay_is_audited_with_the_caller_that_replayed(
    app_env: StorageNames, graph_emulator: GraphEmulator, caplog: pytest.LogCaptureFixture
):
    await submit(BODY)
    await submit(BODY)

    first, replay = audit_events(caplog)
    assert first["reset_id"] == replay["reset_id"]
    assert replay["event"] == "accepted"
    assert "replay" in replay["detail"]


async def test_a_failed_reset_is_an_error_with_graphs_request_ids(
    app_env: StorageNames, graph_emulator: GraphEmulator, caplog: pytest.LogCaptureFixture
):
    graph_emulator.faults.add(
        Fault(method="DELETE", path="fido2Methods", status=403, retry_after=None, times=None)
    )
    response, _ = await submit({**BODY, "user": ADELE, "mode": "sync"})
    assert response.status_code == 502

    (failed,) = audit_events(caplog)
    assert failed["event"] == "failed"
    assert failed["_level"] == "ERROR"
    outcome = body_of(response)["outcome"]
    failed_steps = [s for s in outcome["steps"] if s["result"] == "failed"]
    assert failed_steps and all(s["error"]["request_id"] for s in failed_steps)
    # Every step Graph answered carries its request-id, failed or done, and they are the ids
    # Graph gave those very calls.
    answered = [s for s in failed["steps"] if s["result"] in ("done", "failed")]
    assert failed["graph_request_ids"] == [s["graph_request_id"] for s in answered]
    assert set(failed["graph_request_ids"]) <= {r.request_id for r in graph_emulator.writes()}
    failed_ids = {s["error"]["request_id"] for s in failed_steps}
    assert failed_ids <= set(failed["graph_request_ids"])
    assert {"action": "delete_method", "result": "failed"}.items() <= next(
        s for s in failed["steps"] if s["result"] == "failed"
    ).items()


async def test_a_dry_run_is_a_preview(
    app_env: StorageNames, graph_emulator: GraphEmulator, caplog: pytest.LogCaptureFixture
):
    response, _ = await submit({**BODY, "dry_run": True})
    assert response.status_code == 200

    (previewed,) = audit_events(caplog)
    assert previewed["event"] == "previewed"
    assert previewed["status"] == "planned"
    assert {s["result"] for s in previewed["steps"]} == {"planned"}


async def test_a_protected_target_is_refused_with_a_warning(
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
):
    monkeypatch.setenv("DENIED_USERS", ALEX)
    get_settings.cache_clear()

    for body in ({**BODY, "mode": "sync"}, {**BODY, "dry_run": True, "ticket_id": "INC0043"}):
        response, _ = await submit(body)
        assert response.status_code == 403

    refused_run, refused_preview = audit_events(caplog)
    for event in (refused_run, refused_preview):
        assert event["event"] == "refused"
        assert event["_level"] == "WARNING"
        assert event["status"] == "refused"
        assert event["detail"] == "protected target (denied): the account is on the deny list"
    assert graph_emulator.writes() == []


async def test_a_poisoned_reset_is_a_failure(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit(BODY)
    # Graph goes down after admission (which resolved the user) and stays down.
    graph_emulator.faults.add(
        Fault(method="GET", path="/users/", status=503, retry_after="0", times=None)
    )
    await queue_host.send(app_env.queue, queue.get())
    await queue_host.drain(app_env.queue, handler("process_reset"))
    assert [e["event"] for e in audit_events(caplog)] == ["accepted"]  # retries are not events

    await queue_host.drain(app_env.poison, handler("reset_poisoned"))

    _, failed = audit_events(caplog)
    assert failed["event"] == "failed"
    assert failed["_level"] == "ERROR"
    assert failed["reset_id"] == body_of(response)["id"]
    assert failed["detail"].startswith("abandoned: gave up")


def test_audit_events_are_not_sampled_away():
    # Audit events are traces; adaptive sampling in Application Insights would drop some.
    host = json.loads(HOST_JSON.read_text())
    sampling = host["logging"]["applicationInsights"]["samplingSettings"]
    excluded = set(sampling["excludedTypes"].split(";")) if sampling["isEnabled"] else {"Trace"}
    assert "Trace" in excluded
    # And the audit logger is not filtered below Information.
    levels = host["logging"]["logLevel"]
    assert levels.get("Function", levels["default"]) in {"Trace", "Debug", "Information"}


async def test_an_idempotency_key_reused_for_another_request_is_refused_and_audited(
    app_env: StorageNames, graph_emulator: GraphEmulator, caplog: pytest.LogCaptureFixture
):
    first, _ = await submit(BODY, {"Idempotency-Key": "k-1"})
    other, _ = await submit({**BODY, "user": ADELE}, {"Idempotency-Key": "k-1"})

    assert (first.status_code, other.status_code) == (202, 422)
    accepted, refused = audit_events(caplog)
    assert accepted["event"] == "accepted"
    assert refused["event"] == "refused"
    assert refused["target"] == ADELE
    assert refused["detail"].startswith("idempotency-key-reused: ")
