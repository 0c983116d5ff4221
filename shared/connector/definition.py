"""The operations of the connector definition: one per HTTP route the app serves.

Each operation names the function that serves it and that function's route and method, so the
generator can hold the definition to the indexed app (``check_routes``): a route added, renamed
or removed without the definition fails ``make connector`` and the tests instead of drifting.
Responses are the app's catalogue of answers: the 200/202 views of a reset and every RFC 9457
problem a caller can meet (``shared.triggers.responses`` raises them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from shared.connector.schemas import JsonSchema
from shared.problems import PROBLEM_CONTENT_TYPE

ROUTE_PREFIX = "api"  # host.json's extensions.http.routePrefix (the default)
JSON = "application/json"


class RouteDriftError(AssertionError):
    """The definition and the app's HTTP routes disagree."""


@dataclass(frozen=True)
class Operation:
    function: str  # the function's name in the app
    route: str  # as its HTTP trigger declares it, without the route prefix
    method: str
    operation_id: str
    summary: str
    description: str
    produces: tuple[str, ...] = (JSON,)
    parameters: tuple[JsonSchema, ...] = ()
    responses: dict[str, JsonSchema] = field(default_factory=dict)
    # "internal": hidden in the flow designer (a document for tools, not a step in a flow).
    visibility: str | None = None

    @property
    def path(self) -> str:
        return "/" + self.route


def _header(kind: str, description: str) -> JsonSchema:
    return {"type": kind, "description": description}


LOCATION = _header("string", "The reset's status URL: GET /api/resets/{reset_id}.")
RETRY_AFTER = _header("integer", "Seconds to wait before polling the Location again.")
REPLAYED = {
    **_header("string", "On a replayed submission: the answer is the first submission's reset."),
    "enum": ["true"],
}
_VIEW = {"$ref": "#/definitions/StatusView"}
_PROBLEM = {"$ref": "#/definitions/Problem"}


def problem(description: str, **headers: JsonSchema) -> JsonSchema:
    answer: JsonSchema = {"description": description, "schema": _PROBLEM}
    if headers:
        answer["headers"] = {name.replace("_", "-"): h for name, h in headers.items()}
    return answer


NO_KEY = (
    "No valid function key: answered by the Functions host, without a body, before the app "
    "sees the request."
)
UNAUTHENTICATED = problem(
    "Caller roles are required and no valid Entra ID access token came with the request "
    "(caller-unauthenticated); or no valid function key (answered by the Functions host, "
    "without a body)."
)
MISCONFIGURED = problem(
    "The app is misconfigured (configuration-error) or failed unexpectedly (internal-error, "
    "with a reference to quote)."
)

SUBMIT_RESPONSES: dict[str, JsonSchema] = {
    "200": {
        "description": 'The outcome: a synchronous reset that succeeded ("mode": "sync"), a dry '
        'run\'s plan ("status": "planned"), or, for a replayed submission of a reset that has '
        "ended, the reset as a status read shows it.",
        "schema": _VIEW,
        "headers": {"Location": LOCATION, "Idempotent-Replayed": REPLAYED},
    },
    "202": {
        "description": "Accepted: the reset runs in the background. Poll the Location until it "
        "answers 200 (Power Automate and Logic Apps do this by themselves). Also the answer to "
        "a replayed submission of a reset still pending.",
        "schema": _VIEW,
        "headers": {
            "Location": LOCATION,
            "Retry-After": RETRY_AFTER,
            "Idempotent-Replayed": REPLAYED,
        },
    },
    "400": problem(
        "invalid-request: the body is not JSON, not sent as application/json, over 64 KiB or "
        "has invalid fields (all of them in errors), or a malformed Idempotency-Key. "
        "callback-not-allowed, callback-not-configured: a callback_url this app does not call. "
        "Nothing was sent to Graph."
    ),
    "401": UNAUTHENTICATED,
    "403": problem(
        "caller-forbidden: the caller lacks the app role (MfaReset.Execute; MfaReset.Preview "
        "is enough for a dry run); or target-protected: the user is protected from automated "
        "resets (reason says how). Nothing was changed."
    ),
    "404": problem("user-not-found: Graph has no such user. Nothing was recorded."),
    "409": problem(
        "reset-conflict: the request cannot work on this user (e.g. a new phone of a type the "
        "request keeps). Nothing was changed."
    ),
    "422": problem(
        "idempotency-key-reused: the Idempotency-Key was used before for a different request."
    ),
    "429": problem(
        "limit-reached: resets per hour for the tenant, resets of this user per 24 hours, or "
        "dry runs of this caller per hour. Nothing was changed; retry after Retry-After.",
        Retry_After=_header("integer", "Seconds until the limit has room again."),
    ),
    "500": MISCONFIGURED,
    "502": problem(
        "Graph refused or stayed unavailable. graph-unavailable and protection-check-failed: "
        "nothing was changed. reset-incomplete: outcome says what was done and what remains."
    ),
}
GET_RESPONSES: dict[str, JsonSchema] = {
    "200": {
        "description": "The reset has ended: succeeded, failed or refused.",
        "schema": _VIEW,
        "headers": {"Location": LOCATION},
    },
    "202": {
        "description": "The reset is accepted or running: poll again after Retry-After.",
        "schema": _VIEW,
        "headers": {"Location": LOCATION, "Retry-After": RETRY_AFTER},
    },
    "401": UNAUTHENTICATED,
    "403": problem(
        "caller-forbidden: the caller has neither MfaReset.Execute nor MfaReset.Preview."
    ),
    "404": problem("reset-not-found: no reset has this id."),
    "500": MISCONFIGURED,
}

CANCEL_RESPONSES: dict[str, JsonSchema] = {
    "200": {
        "description": "The reset is cancelled: it never ran, and never will.",
        "schema": _VIEW,
        "headers": {"Location": LOCATION},
    },
    "401": UNAUTHENTICATED,
    "403": problem("caller-forbidden: the caller lacks MfaReset.Execute."),
    "404": problem("reset-not-found: no reset has this id."),
    "409": problem(
        "reset-not-cancellable: the reset is running or has ended (reset_status says which); "
        "only a reset that has not started can be cancelled."
    ),
    "500": MISCONFIGURED,
}

IDEMPOTENCY_KEY: JsonSchema = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "pattern": "^[\\x21-\\x7e]{1,255}$",
    "description": "Makes a retried submission safe: the same key (from the same caller) answers "
    "with the first submission's reset; reusing it for a different request is a 422. Without "
    "it, the same ticket_id and user are the same request. 1-255 visible ASCII characters.",
    "x-ms-summary": "Idempotency key",
    "x-ms-visibility": "advanced",
}
BODY: JsonSchema = {
    "name": "body",
    "in": "body",
    "required": True,
    "schema": {"$ref": "#/definitions/ResetRequest"},
    "description": "The reset to do. Unknown fields are refused; booleans must be booleans.",
    "x-ms-summary": "Reset request",
}
RESET_ID: JsonSchema = {
    "name": "reset_id",
    "in": "path",
    "required": True,
    "type": "string",
    "format": "uuid",
    "description": "The reset's id: the id in the answer to the submission, the last segment "
    "of its Location.",
    "x-ms-summary": "Reset ID",
    "x-ms-visibility": "important",
    "x-ms-url-encoding": "single",
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        function="submit_reset",
        route="resets",
        method="post",
        operation_id="SubmitReset",
        summary="Reset a user's MFA",
        description="Revokes the user's sessions and deletes their registered authentication "
        "methods, then optionally registers a new phone or issues a Temporary Access Pass. "
        "Asynchronous by default: 202 with Location and Retry-After, polled until the reset has "
        'ended. "mode": "sync" waits for the outcome; dry_run returns the ordered plan and '
        "changes nothing (it needs only the MfaReset.Preview role).",
        produces=(JSON, PROBLEM_CONTENT_TYPE),
        parameters=(BODY, IDEMPOTENCY_KEY),
        responses=SUBMIT_RESPONSES,
    ),
    Operation(
        function="get_reset",
        route="resets/{reset_id}",
        method="get",
        operation_id="GetReset",
        summary="Get an MFA reset",
        description="The reset as the app recorded it: 202 with Retry-After while it is "
        "accepted or running, 200 with the outcome once it has ended.",
        produces=(JSON, PROBLEM_CONTENT_TYPE),
        parameters=(RESET_ID,),
        responses=GET_RESPONSES,
    ),
    Operation(
        function="cancel_reset",
        route="resets/{reset_id}",
        method="delete",
        operation_id="CancelReset",
        summary="Cancel an MFA reset",
        description="Stops a reset that has not started (held after the user was notified, or "
        "still queued): it ends cancelled and nothing is done in Graph. A reset already "
        "running or ended answers 409.",
        produces=(JSON, PROBLEM_CONTENT_TYPE),
        parameters=(RESET_ID,),
        responses=CANCEL_RESPONSES,
    ),
    Operation(
        function="reset_request_schema",
        route="schemas/reset-request",
        method="get",
        operation_id="GetResetRequestSchema",
        summary="Get the reset request's JSON Schema",
        description="The JSON Schema (draft 2020-12) of the reset request body, to validate a "
        "request before it is sent.",
        produces=("application/schema+json",),
        responses={
            "200": {"description": "The JSON Schema.", "schema": {"type": "object"}},
            "401": {"description": NO_KEY},
        },
        visibility="internal",
    ),
    Operation(
        function="connector_definition",
        route="openapi.json",
        method="get",
        operation_id="GetApiDefinition",
        summary="Get this API definition",
        description="This OpenAPI 2.0 definition, with the host the request was sent to: what "
        "a Power Platform custom connector or Logic Apps imports.",
        responses={
            "200": {"description": "The OpenAPI 2.0 definition.", "schema": {"type": "object"}},
            "401": {"description": NO_KEY},
        },
        visibility="internal",
    ),
)


def operation(op: Operation) -> JsonSchema:
    """The Swagger 2.0 operation object."""
    out: JsonSchema = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "description": op.description,
    }
    if op.method == "post":
        out["consumes"] = [JSON]
    out["produces"] = list(op.produces)
    if op.parameters:
        out["parameters"] = [dict(p) for p in op.parameters]
    out["responses"] = json.loads(json.dumps(op.responses))  # a copy the caller may change
    if op.visibility:
        out["x-ms-visibility"] = op.visibility
    return out


def paths() -> JsonSchema:
    grouped: dict[str, JsonSchema] = {}
    for op in sorted(OPERATIONS, key=lambda o: (o.path, o.method)):
        grouped.setdefault(op.path, {})[op.method] = operation(op)
    return grouped


def served_routes(functions: Iterable[Any]) -> set[tuple[str, str]]:
    """(route, METHOD) of every HTTP-triggered function, from ``FunctionApp.get_functions()``."""
    served: set[tuple[str, str]] = set()
    for function in functions:
        for binding in json.loads(function.get_function_json())["bindings"]:
            if binding["type"] != "httpTrigger":
                continue
            methods = binding.get("methods")
            if not methods:
                raise RouteDriftError(f"{function.get_function_name()} answers every method")
            served.update((binding["route"], m.upper()) for m in methods)
    return served


# Pages for people (a notification's "this wasn't me" link), not operations of the API: a
# connector must not offer them as steps of a flow.
PAGES = frozenset(
    {
        ("notices/{reset_id}/{recipient}/{token}", "GET"),
        ("notices/{reset_id}/{recipient}/{token}", "POST"),
        ("verify/{reset_id}/{token}", "GET"),
        ("verify/{reset_id}/{token}", "POST"),
        # Verified ID's callbacks: for the Request Service, never for a flow.
        ("verify-callback", "POST"),
    }
)


def check_routes(served: Iterable[tuple[str, str]], route_prefix: str = ROUTE_PREFIX) -> None:
    """Fail when a documented route is not served, or a served one (not a page for people) is
    not documented."""
    documented = {(op.route, op.method.upper()) for op in OPERATIONS}
    served = set(served) - PAGES
    problems = [f"documented but not served: {m} {r}" for r, m in sorted(documented - served)]
    problems += [f"served but not documented: {m} {r}" for r, m in sorted(served - documented)]
    if route_prefix != ROUTE_PREFIX:
        problems.append(
            f"the route prefix is {route_prefix!r}, the definition says {ROUTE_PREFIX!r}"
        )
    if problems:
        raise RouteDriftError(
            "the connector definition and the app's HTTP routes disagree; update "
            "shared/connector/definition.py, then run `make connector`: " + "; ".join(problems)
        )
