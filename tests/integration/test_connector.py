"""The connector definition holds: generated, valid OpenAPI 2.0, and true to the HTTP functions.

``connector/apiDefinition.swagger.json`` is what Power Platform and Logic Apps import, so a
mismatch with the app is a broken flow in someone's tenant. Here the committed files must be
what the generator writes today; the definition must validate as OpenAPI 2.0; and the contract
holds both ways: every answer the real HTTP functions give (called as the host calls them, against
the Graph emulator and Azurite) has a documented status, headers and a body its schema accepts,
and every documented status of every operation is produced by some case below, or is listed in
``UNREACHABLE`` with the reason no test can produce it.
"""

from __future__ import annotations

import base64
import difflib
import json
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
import pytest
from jsonschema import Draft4Validator
from openapi_spec_validator import OpenAPIV2SpecValidator, validate

from emulator import Fault, GraphEmulator
from emulator.entra import API_CLIENT_ID
from shared.connector import api_definition, api_properties, check_routes, render, served_routes
from shared.guards import close_signing_keys
from shared.ledger import get_ledger
from shared.models import CallbackEvent
from shared.settings import get_settings
from tests.support.app import handler, indexed
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, cancel, status, submit
from tests.support.paths import REPO_ROOT
from tests.support.swagger import json_schema

CONNECTOR = REPO_ROOT / "connector"
DEFINITION_FILE = CONNECTOR / "apiDefinition.swagger.json"
PROPERTIES_FILE = CONNECTOR / "apiProperties.json"
ALEX = "alex.wilber@contoso.example"
BODY = {"user": ALEX, "ticket_id": "INC0070001", "requested_by": "desk@contoso.example"}
SYNC = {**BODY, "mode": "sync"}
# Headers every answer carries that the definition leaves to HTTP itself.
UNDOCUMENTED_HEADERS = {"content-type", "cache-control"}
# Headers an answer with this status must carry (the asynchronous pattern, the limits).
REQUIRED_HEADERS = {"202": {"Location", "Retry-After"}, "429": {"Retry-After"}}

HOST_ONLY = "the Functions host refuses a missing or wrong key before any function runs"
UNREACHABLE = {("GetResetRequestSchema", "401"): HOST_ONLY, ("GetApiDefinition", "401"): HOST_ONLY}


def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(DEFINITION_FILE.read_text(encoding="utf-8"))
    return document


def operations(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        op["operationId"]: op for methods in definition["paths"].values() for op in methods.values()
    }


def schema_errors(definition: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    root = {**json_schema(schema), "definitions": json_schema(definition["definitions"])}
    validator = Draft4Validator(root, format_checker=Draft4Validator.FORMAT_CHECKER)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(value)
    ]


def assert_described(definition: dict[str, Any], operation_id: str, response: Any) -> None:
    """The answer's status, content type, headers and body are what the definition says."""
    op = operations(definition)[operation_id]
    code = str(response.status_code)
    assert code in op["responses"], f"{operation_id} answered {code}, which is not documented"
    documented = op["responses"][code]
    content_type = (response.headers.get("Content-Type") or response.mimetype).split(";")[0]
    if documented.get("schema") == {"$ref": "#/definitions/Problem"}:
        assert content_type == "application/problem+json"
    else:
        assert content_type in op["produces"]
    headers = {h.lower() for h in documented.get("headers", {})}
    sent = {h.lower() for h, _ in response.headers.items()} - UNDOCUMENTED_HEADERS
    assert sent <= headers, f"{operation_id} {code} sent undocumented headers {sent - headers}"
    for header in REQUIRED_HEADERS.get(code, set()):
        assert header in response.headers, f"{operation_id} {code} without {header}"
    if "Retry-After" in response.headers:
        assert int(response.headers["Retry-After"]) > 0
    body = json.loads(response.get_body())
    errors = schema_errors(definition, documented["schema"], body)
    assert errors == [], f"{operation_id} {code}: the body does not match its schema: {errors}"


@dataclass
class World:
    """What a case works with: the emulated tenant, app settings, and the functions."""

    emu: GraphEmulator
    monkeypatch: pytest.MonkeyPatch
    definition: dict[str, Any]

    def set(self, **settings: str) -> World:
        for name, value in settings.items():
            self.monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        return self

    def roles(self) -> World:
        """Caller roles required: every call needs a verified token with an app role."""
        return self.set(
            REQUIRE_CALLER_ROLES="true",
            CALLER_TENANT_ID=self.emu.entra.tenant_id,
            CALLER_AUDIENCES=f"{API_CLIENT_ID},api://{API_CLIENT_ID}",
            CALLER_AUTHORITY=self.emu.origin,
        )

    def signed_in(self, *roles: str) -> dict[str, str]:
        token = self.emu.entra.issue(*roles, app_id=str(uuid.uuid4()), app_displayname="Flow")
        return {"Authorization": f"Bearer {token}"}

    def graph_fails(self, method: str) -> World:
        self.emu.faults.add(Fault(method=method, status=503, retry_after="0", times=None))
        return self

    async def submit(
        self, body: dict[str, Any], headers: dict[str, str] | None = None, *, valid: bool = True
    ) -> func.HttpResponse:
        """POST /api/resets; a body the app takes must be one the definition takes too."""
        if valid:
            request = {"$ref": "#/definitions/ResetRequest"}
            assert schema_errors(self.definition, request, body) == [], body
        response, _ = await submit(body, headers)
        return response

    async def read(
        self, reset_id: str | None = None, headers: dict[str, str] | None = None
    ) -> func.HttpResponse:
        """GET /api/resets/{reset_id} (an id nobody submitted by default)."""
        return await status(reset_id or str(uuid.uuid4()), headers)

    async def cancel(
        self, reset_id: str | None = None, headers: dict[str, str] | None = None
    ) -> func.HttpResponse:
        """DELETE /api/resets/{reset_id} (an id nobody submitted by default)."""
        response, _ = await cancel(reset_id or str(uuid.uuid4()), headers)
        return response

    async def get(self, function: str, route: str) -> func.HttpResponse:
        url = f"https://mfa-reset.example/api/{route}"
        response: func.HttpResponse = handler(function)(
            func.HttpRequest(method="GET", url=url, body=b"")
        )
        return response


Run = Callable[[World], Awaitable[func.HttpResponse]]


@dataclass(frozen=True)
class Case:
    operation: str
    status: int
    name: str
    run: Run
    kind: str | None = None  # the problem type a problem answer must have


async def _with_callback(w: World) -> func.HttpResponse:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    w.set(CALLBACK_SIGNING_SECRET=secret, CALLBACK_ALLOWED_HOSTS="hooks.contoso.example")
    response = await w.submit({**BODY, "callback_url": "https://hooks.contoso.example/r?s=1"})
    assert "callback" in body_of(response)
    return response


async def _replayed(w: World, body: dict[str, Any]) -> func.HttpResponse:
    await w.submit(body)
    response = await w.submit(body)
    assert response.headers["Idempotent-Replayed"] == "true"
    return response


async def _replay_refused(w: World) -> func.HttpResponse:
    """A reset refused for a protected user, submitted again: the refused reset's view."""
    assert (await w.set(DENIED_USERS=ALEX).submit(SYNC)).status_code == 403
    response = await w.submit(SYNC)
    assert body_of(response)["status"] == "refused"
    return response


async def _key_reused(w: World) -> func.HttpResponse:
    key = {"Idempotency-Key": "flow-run-1"}
    assert (await w.submit(BODY, key)).status_code == 202
    return await w.submit({**BODY, "ticket_id": "INC0070002"}, key)


async def _past_the_limit(w: World) -> func.HttpResponse:
    w.set(DRY_RUNS_PER_CALLER_PER_HOUR="1")
    assert (await w.submit(DRY_RUN)).status_code == 200
    return await w.submit(DRY_RUN)


async def _read_after(w: World, submission: Run) -> func.HttpResponse:
    return await w.read(str(body_of(await submission(w))["id"]))


async def _cancel_after(w: World, submission: Run) -> func.HttpResponse:
    return await w.cancel(str(body_of(await submission(w))["id"]))


SUBMIT, GET, CANCEL = "SubmitReset", "GetReset", "CancelReset"
NEW_PHONE = {"number": "+14255550199"}
WITH_TAP = {**SYNC, "new_phone": NEW_PHONE, "temporary_access_pass": {}}
DRY_RUN = {**BODY, "dry_run": True, "remove_methods": ["phone", "email"]}
INVALID = {**BODY, "user": "not a user"}
NOBODY = {**BODY, "user": "nobody@contoso.example"}
CONFLICT = {**SYNC, "keep_methods": ["phone"], "new_phone": NEW_PHONE}
FORBIDDEN = "Some.Other.Role"
MISCONFIGURED = {"STATUS_RETRY_AFTER_SECONDS": "0"}
CASES = [
    Case(SUBMIT, 202, "accepted", lambda w: w.submit(BODY)),
    Case(SUBMIT, 202, "accepted with a callback", _with_callback),
    Case(SUBMIT, 202, "replay of a pending reset", lambda w: _replayed(w, BODY)),
    Case(SUBMIT, 200, "synchronous reset", lambda w: w.submit(WITH_TAP)),
    Case(SUBMIT, 200, "dry run", lambda w: w.submit(DRY_RUN)),
    Case(SUBMIT, 200, "replay of a finished reset", lambda w: _replayed(w, SYNC)),
    Case(SUBMIT, 200, "replay of a refused reset", _replay_refused),
    Case(SUBMIT, 400, "invalid", lambda w: w.submit(INVALID, valid=False), "invalid-request"),
    Case(SUBMIT, 401, "no token", lambda w: w.roles().submit(BODY), "caller-unauthenticated"),
    Case(
        SUBMIT,
        403,
        "caller without a role",
        lambda w: w.roles().submit(BODY, w.signed_in(FORBIDDEN)),
        "caller-forbidden",
    ),
    Case(
        SUBMIT,
        403,
        "protected user",
        lambda w: w.set(DENIED_USERS=ALEX).submit(SYNC),
        "target-protected",
    ),
    Case(SUBMIT, 404, "unknown user", lambda w: w.submit(NOBODY), "user-not-found"),
    Case(SUBMIT, 409, "conflict", lambda w: w.submit(CONFLICT), "reset-conflict"),
    Case(SUBMIT, 422, "key reused", _key_reused, "idempotency-key-reused"),
    Case(SUBMIT, 429, "dry runs past the limit", _past_the_limit, "limit-reached"),
    Case(
        SUBMIT,
        502,
        "reset incomplete",
        lambda w: w.graph_fails("DELETE").submit(SYNC),
        "reset-incomplete",
    ),
    Case(
        SUBMIT,
        502,
        "Graph unavailable",
        lambda w: w.graph_fails("GET").submit(SYNC),
        "graph-unavailable",
    ),
    Case(
        SUBMIT,
        500,
        "misconfigured",
        lambda w: w.set(**MISCONFIGURED).submit(BODY),
        "configuration-error",
    ),
    Case(GET, 202, "pending", lambda w: _read_after(w, lambda w: w.submit(BODY))),
    Case(GET, 200, "ended", lambda w: _read_after(w, lambda w: w.submit(SYNC))),
    Case(GET, 200, "refused", lambda w: _read_after(w, _replay_refused)),
    Case(GET, 404, "unknown id", lambda w: w.read(), "reset-not-found"),
    Case(GET, 401, "no token", lambda w: w.roles().read(), "caller-unauthenticated"),
    Case(
        GET,
        403,
        "caller without a role",
        lambda w: w.roles().read(headers=w.signed_in(FORBIDDEN)),
        "caller-forbidden",
    ),
    Case(GET, 500, "misconfigured", lambda w: w.set(**MISCONFIGURED).read(), "configuration-error"),
    Case(CANCEL, 200, "pending", lambda w: _cancel_after(w, lambda w: w.submit(BODY))),
    Case(
        CANCEL,
        409,
        "ended",
        lambda w: _cancel_after(w, lambda w: w.submit(SYNC)),
        "reset-not-cancellable",
    ),
    Case(CANCEL, 404, "unknown id", lambda w: w.cancel(), "reset-not-found"),
    Case(CANCEL, 401, "no token", lambda w: w.roles().cancel(), "caller-unauthenticated"),
    Case(
        CANCEL,
        403,
        "caller with the preview role only",
        lambda w: w.roles().cancel(headers=w.signed_in("MfaReset.Preview")),
        "caller-forbidden",
    ),
    Case(
        CANCEL,
        500,
        "misconfigured",
        lambda w: w.set(**MISCONFIGURED).cancel(),
        "configuration-error",
    ),
    Case(
        "GetResetRequestSchema",
        200,
        "the schema",
        lambda w: w.get("reset_request_schema", "schemas/reset-request"),
    ),
    Case(
        "GetApiDefinition",
        200,
        "the definition",
        lambda w: w.get("connector_definition", "openapi.json"),
    ),
]


@pytest.mark.parametrize("example", CASES, ids=lambda c: f"{c.operation}-{c.status}-{c.name}")
async def test_every_answer_is_described(
    example: Case,
    app_env: StorageNames,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
):
    world = World(graph_emulator, monkeypatch, committed())
    try:
        response = await example.run(world)
    finally:
        await close_signing_keys()
    assert response.status_code == example.status, response.get_body()
    assert_described(world.definition, example.operation, response)
    if example.kind is not None:
        assert body_of(response)["type"] == f"urn:mfa-reset:problem:{example.kind}"


def test_every_documented_answer_is_produced_or_explained():
    documented = {
        (op_id, code) for op_id, op in operations(committed()).items() for code in op["responses"]
    }
    produced = {(c.operation, str(c.status)) for c in CASES}
    assert produced - documented == set()  # also held by each case
    assert set(UNREACHABLE) <= documented
    assert not set(UNREACHABLE) & produced, "produced by a case: no longer unreachable"
    assert documented - produced - set(UNREACHABLE) == set()


async def test_a_callback_body_is_a_reset_callback(
    app_env: StorageNames, graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
):
    """The body a completion callback carries, for a reset that ended (the receiver's side)."""
    from shared.reset.callbacks import callback_body

    world = World(graph_emulator, monkeypatch, committed())
    response = await world.submit(SYNC)
    record = await (await get_ledger()).get(body_of(response)["id"])
    assert record is not None
    body = json.loads(callback_body(record, CallbackEvent.succeeded))
    reset_callback = {"$ref": "#/definitions/ResetCallback"}
    assert schema_errors(world.definition, reset_callback, body) == []


def test_the_committed_files_are_what_the_generator_writes():
    for path, expected in (
        (DEFINITION_FILE, render(api_definition())),
        (PROPERTIES_FILE, render(api_properties())),
    ):
        actual = path.read_text(encoding="utf-8") if path.exists() else ""
        if actual != expected:
            diff = difflib.unified_diff(
                actual.splitlines(), expected.splitlines(), "committed", "generated", lineterm=""
            )
            shown = "\n".join(list(diff)[:60])
            pytest.fail(f"{path.name} is out of date: run `make connector`\n{shown}")


def test_the_generator_script_agrees():
    done = subprocess.run(
        [sys.executable, "scripts/connector.py", "--check"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_documented_operations_are_the_served_routes():
    check_routes(served_routes(indexed().values()))


def test_the_definition_is_valid_openapi_2():
    validate(committed(), cls=OpenAPIV2SpecValidator)  # the Swagger 2.0 validator


def test_the_app_serves_the_definition_with_its_own_host():
    url = "https://mfa-reset.example/api/openapi.json?code=the-key"
    response = handler("connector_definition")(func.HttpRequest(method="GET", url=url, body=b""))

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    served = json.loads(response.get_body())
    assert served == {**committed(), "host": "mfa-reset.example", "schemes": ["https"]}
    assert b"the-key" not in response.get_body()
