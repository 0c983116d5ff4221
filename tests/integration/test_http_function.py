"""The HTTP function as the Functions host calls it: indexed from function_app, given requests."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any

import azure.functions as func
import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.reset import status as status_module
from tests.support.app import handler, indexed
from tests.support.bindings import Out
from tests.support.fixtures import StorageNames

Handler = Callable[[func.HttpRequest], Awaitable[func.HttpResponse]]

# Synchronous: these tests look at the inline answer; the asynchronous path has its own module.
VALID = {
    "user": "alex.wilber@contoso.example",
    "ticket_id": "INC0012345",
    "requested_by": "desk@contoso.example",
    "mode": "sync",
}


def functions() -> dict[str, Any]:
    return indexed()


def post(body: Any, content_type: str = "application/json") -> func.HttpRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return func.HttpRequest(
        method="POST",
        url="/api/resets",
        headers={"Content-Type": content_type},
        body=raw,
    )


async def submit(body: Any, content_type: str = "application/json") -> func.HttpResponse:
    response: func.HttpResponse = await handler("submit_reset")(post(body, content_type), Out())
    return response


def problem(response: func.HttpResponse) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = json.loads(response.get_body())
    assert body["status"] == response.status_code
    assert body["type"].startswith("urn:mfa-reset:problem:")
    return body


def test_functions_are_indexed_with_their_routes_and_bindings():
    found = functions()
    assert set(found) == {
        "submit_reset",
        "get_reset",
        "reset_request_schema",
        "process_reset",
        "reset_poisoned",
        "scheduled_cleanup",
        "deliver_callback",
        "callback_poisoned",
        "connector_definition",
        "admit_sweep_page",
        "cancel_reset",
        "notice_page",
        "notice_action",
        "verify_page",
        "verify_pass",
        "verified_id_callback",
    }
    expected = {
        "submit_reset": ("resets", ["POST"]),
        "get_reset": ("resets/{reset_id}", ["GET"]),
        "cancel_reset": ("resets/{reset_id}", ["DELETE"]),
        "reset_request_schema": ("schemas/reset-request", ["GET"]),
        "connector_definition": ("openapi.json", ["GET"]),
    }
    for name, (route, methods) in expected.items():
        bindings = json.loads(found[name].get_function_json())["bindings"]
        trigger = next(b for b in bindings if b["type"] == "httpTrigger")
        assert trigger["route"] == route
        assert trigger["methods"] == methods
        assert trigger["authLevel"] == "FUNCTION"
    # The links in notifications: anonymous, the token in the path is the credential.
    for name, method in (("notice_page", "GET"), ("notice_action", "POST")):
        bindings = json.loads(found[name].get_function_json())["bindings"]
        trigger = next(b for b in bindings if b["type"] == "httpTrigger")
        assert trigger["route"] == "notices/{reset_id}/{recipient}/{token}"
        assert (trigger["methods"], trigger["authLevel"]) == ([method], "ANONYMOUS")
    for name, function in found.items():
        # The "0 functions found" trap: every binding parameter exists in the Python signature.
        bindings = json.loads(function.get_function_json())["bindings"]
        parameters = set(inspect.signature(function.get_user_function()).parameters)
        assert {b["name"] for b in bindings if b["name"] != "$return"} == parameters, name
    submit_bindings = json.loads(found["submit_reset"].get_function_json())["bindings"]
    queue_out = next(b for b in submit_bindings if b["type"] == "queue")
    assert queue_out["direction"] == "OUT"
    assert (queue_out["queueName"], queue_out["connection"]) == (
        "%RESET_QUEUE_NAME%",
        "RESET_STORAGE",
    )
    callbacks = "%RESET_QUEUE_NAME%-callbacks"
    for name, queue_name, output in (
        ("process_reset", "%RESET_QUEUE_NAME%", callbacks),
        ("reset_poisoned", "%RESET_QUEUE_NAME%-poison", callbacks),
        ("deliver_callback", callbacks, None),
        ("callback_poisoned", f"{callbacks}-poison", None),
        ("admit_sweep_page", "%RESET_QUEUE_NAME%-sweep", "%RESET_QUEUE_NAME%"),
    ):
        bindings = json.loads(found[name].get_function_json())["bindings"]
        trigger = next(b for b in bindings if b["type"] == "queueTrigger")
        assert (trigger["queueName"], trigger["connection"]) == (queue_name, "RESET_STORAGE")
        outputs = [(b["queueName"], b["connection"]) for b in bindings if b["type"] == "queue"]
        assert outputs == ([(output, "RESET_STORAGE")] if output else [])
    timer_bindings = json.loads(found["scheduled_cleanup"].get_function_json())["bindings"]
    timer = next(b for b in timer_bindings if b["type"] == "timerTrigger")
    assert timer["schedule"] == "%CLEANUP_SCHEDULE%"
    assert timer.get("runOnStartup") is False
    timer_out = {
        b["name"]: (b["direction"], b["queueName"]) for b in timer_bindings if b["type"] == "queue"
    }
    assert timer_out == {
        "queue": ("OUT", "%RESET_QUEUE_NAME%"),
        "callbacks": ("OUT", "%RESET_QUEUE_NAME%-callbacks"),
        "pages": ("OUT", "%RESET_QUEUE_NAME%-sweep"),
    }


async def test_successful_reset_answers_200_with_the_outcome(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    response = await submit(VALID)

    assert response.status_code == 200, response.get_body()
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-store"
    outcome = json.loads(response.get_body())
    assert outcome["status"] == "succeeded"
    assert outcome["ticket_id"] == "INC0012345"
    assert outcome["user"]["user_principal_name"] == VALID["user"]
    assert outcome["remaining_methods"] == []
    assert {s["result"] for s in outcome["steps"]} == {"done"}


async def test_tap_reaches_the_caller_once_and_no_log(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("DEBUG")
    response = await submit(
        {**VALID, "temporary_access_pass": {}, "new_phone": {"number": "+14255550199"}}
    )

    assert response.status_code == 200, response.get_body()
    alex = tenant.user(VALID["user"])
    assert alex is not None
    tap = tenant.last_tap_value(alex.id)
    assert tap and json.loads(response.get_body())["temporary_access_pass"]["value"] == tap
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert tap not in logged
    assert "4255550199" not in logged
    assert "reset" in logged  # the scan saw the run's log lines


@pytest.mark.parametrize(
    ("body", "content_type", "pointer"),
    [
        (b"{oops", "application/json", "#"),
        (VALID, "text/plain", None),
        (VALID, "", None),
        ({**VALID, "user": "not a user"}, "application/json", "#/user"),
        ({**VALID, "surprise": True}, "application/json", "#/surprise"),
        ({**VALID, "new_phone": {"number": "555-0199"}}, "application/json", "#/new_phone/number"),
        (
            {**VALID, "temporary_access_pass": {"lifetime_minutes": 1}},
            "application/json",
            "#/temporary_access_pass/lifetime_minutes",
        ),
        ({**VALID, "reason": "x" * 70000}, "application/json", None),
    ],
)
async def test_bad_input_is_a_400_problem_and_never_reaches_graph(
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    body: Any,
    content_type: str,
    pointer: str | None,
):
    response = await submit(body, content_type)

    assert response.status_code == 400
    details = problem(response)
    if pointer is not None:
        assert pointer in [e["pointer"] for e in details["errors"]]
    assert graph_emulator.requests == []
    assert graph_emulator.token_requests == []


def _raw(text: str) -> bytes:
    """A body as a caller might send it, duplicate names and all (json.dumps cannot)."""
    return text.encode()


_BASE = '"ticket_id": "INC0012345", "requested_by": "desk@contoso.example", "mode": "sync"'
# (body, where the 400 points, a value of the body no answer may repeat)
EDGES: list[tuple[Any, str, str]] = [
    # A name given twice: parsers disagree on which value wins, so neither does.
    (
        _raw(
            f'{{"user": "alex.wilber@contoso.example", {_BASE}, "user": "adele@contoso.example"}}'
        ),
        "#/user",
        "adele@contoso.example",
    ),
    (
        _raw(
            f'{{"user": "alex.wilber@contoso.example", {_BASE}, "dry_run": true, "dry_run": false}}'
        ),
        "#/dry_run",
        "alex.wilber@contoso.example",
    ),
    (
        _raw(
            f'{{"user": "alex.wilber@contoso.example", {_BASE}, "new_phone": '
            '{"number": "+14255550199", "number": "+14255550142"}}'
        ),
        "#/new_phone/number",
        "4255550142",
    ),
    # Python's "$" matches before a final line break.
    ({**VALID, "user": "alex.wilber@contoso.example\n"}, "#/user", "alex.wilber"),
    ({**VALID, "ticket_id": "INC0012345\n"}, "#/ticket_id", "INC0012345"),
    # Control and bidirectional characters in free text.
    ({**VALID, "requested_by": "desk\u202e@contoso.example"}, "#/requested_by", "desk"),
    ({**VALID, "reason": "verified by\x85manager"}, "#/reason", "manager"),
    # Only ASCII digits in a phone number.
    (
        {**VALID, "new_phone": {"number": "+14255550199x\u0664\u0662"}},
        "#/new_phone/number",
        "4255550199",
    ),
]


@pytest.mark.parametrize(("body", "pointer", "submitted"), EDGES)
async def test_input_edges_are_a_400_naming_the_field_and_never_the_value(
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    body: Any,
    pointer: str,
    submitted: str,
):
    response = await submit(body)

    assert response.status_code == 400, response.get_body()
    details = problem(response)
    assert [e["pointer"] for e in details["errors"]] == [pointer]
    assert submitted not in response.get_body().decode()
    assert graph_emulator.requests == []


async def test_a_body_nested_past_any_parsers_limit_is_a_400(
    graph_emulator: GraphEmulator, app_env: StorageNames
):
    deep = b"[" * 40000 + b"]" * 40000
    response = await submit(
        _raw(f'{{"user": "alex.wilber@contoso.example", {_BASE}, "x": ') + deep + b"}"
    )

    assert response.status_code == 400
    assert problem(response)["type"] == "urn:mfa-reset:problem:invalid-request"


async def test_an_idempotency_key_is_matched_whole(
    graph_emulator: GraphEmulator, app_env: StorageNames
):
    request = func.HttpRequest(
        method="POST",
        url="/api/resets",
        headers={"Content-Type": "application/json", "Idempotency-Key": "sn-INC0012345\n"},
        body=json.dumps({**VALID, "mode": "async"}).encode(),
    )
    queue: Out[str] = Out()
    response = await handler("submit_reset")(request, queue)

    assert response.status_code == 400
    assert "Idempotency-Key" in problem(response)["detail"]
    assert not queue.is_set


async def test_a_reset_id_is_matched_whole(
    graph_emulator: GraphEmulator, app_env: StorageNames, monkeypatch: pytest.MonkeyPatch
):
    accepted = await submit({**VALID, "mode": "async"})
    assert accepted.status_code == 202
    reset_id = json.loads(accepted.get_body())["id"]
    assert (await read_status(reset_id)).status_code == 202
    assert (await read_status(f"{reset_id}\n")).status_code == 404

    def no_ledger() -> None:
        raise AssertionError("a key that is no reset id reached the ledger")

    # Not a reset id, so never a key sent to Table Storage (which refuses control characters).
    monkeypatch.setattr(status_module, "get_ledger", no_ledger)
    assert await status_module.find_reset(f"{reset_id}\n") is None


async def read_status(reset_id: str) -> func.HttpResponse:
    request = func.HttpRequest(
        method="GET",
        url=f"/api/resets/{reset_id}",
        route_params={"reset_id": reset_id},
        headers={},
        body=b"",
    )
    response: func.HttpResponse = await handler("get_reset")(request)
    return response


async def test_unknown_user_is_a_404_problem(graph_emulator: GraphEmulator, app_env: StorageNames):
    response = await submit({**VALID, "user": "nobody@contoso.example"})

    assert response.status_code == 404
    assert problem(response)["type"] == "urn:mfa-reset:problem:user-not-found"
    assert graph_emulator.writes() == []


async def test_conflicting_request_is_a_409_problem_before_any_write(
    graph_emulator: GraphEmulator, app_env: StorageNames
):
    body = {
        **VALID,
        "keep_methods": ["phone"],
        "new_phone": {"number": "+14255550199", "type": "mobile"},
    }
    response = await submit(body)

    assert response.status_code == 409
    assert "keeps phones" in problem(response)["detail"]
    assert graph_emulator.writes() == []


async def test_graph_failing_is_a_502_problem_with_the_outcome(
    graph_emulator: GraphEmulator, app_env: StorageNames, monkeypatch: pytest.MonkeyPatch
):
    graph_emulator.faults.add(Fault(method="DELETE", status=503, retry_after="0", times=None))
    response = await submit(VALID)

    assert response.status_code == 502
    details = problem(response)
    assert details["type"] == "urn:mfa-reset:problem:reset-incomplete"
    outcome = details["outcome"]
    assert outcome["status"] == "failed"
    assert len(outcome["remaining_methods"]) == 3
    assert outcome["steps"][0]["error"]["status"] == 503


async def test_graph_unreachable_before_any_change_is_a_502_problem(
    graph_emulator: GraphEmulator, app_env: StorageNames, monkeypatch: pytest.MonkeyPatch
):
    graph_emulator.faults.add(Fault(method="GET", status=503, retry_after="0", times=None))
    response = await submit(VALID)

    assert response.status_code == 502
    details = problem(response)
    assert details["type"] == "urn:mfa-reset:problem:graph-unavailable"
    assert details["graph_error"]["status"] == 503
    assert graph_emulator.writes() == []


async def test_dry_run_answers_the_plan(graph_emulator: GraphEmulator, app_env: StorageNames):
    response = await submit({**VALID, "dry_run": True})

    assert response.status_code == 200
    outcome = json.loads(response.get_body())
    assert outcome["status"] == "planned"
    assert [s["result"] for s in outcome["steps"]] == ["planned"] * len(outcome["steps"])
    assert graph_emulator.writes() == []


def test_schema_endpoint_publishes_the_request_schema():
    response = handler("reset_request_schema")(
        func.HttpRequest(method="GET", url="/api/schemas/reset-request", body=b"")
    )
    assert response.status_code == 200
    schema = json.loads(response.get_body())
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["additionalProperties"] is False
    assert "temporary_access_pass" in schema["properties"]
