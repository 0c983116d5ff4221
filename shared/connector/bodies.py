"""The bodies the API sends and receives, as the ``definitions`` of the connector definition.

The request and the outcome come from their Pydantic models at generation time, so a field added
to a model reaches the connector when it is regenerated (``make connector``), and the tests fail
until it is. The status view and the problem document are dictionaries built by the app, not
models: their extra members are listed here, next to the model they extend, and the contract
test holds them to what the HTTP functions really answer.
"""

from __future__ import annotations

import copy

from shared.connector.schemas import JsonSchema, Translator
from shared.ledger import ResetStatus
from shared.models import (
    CallbackEvent,
    CallbackView,
    CallerView,
    DisputeView,
    MethodType,
    NotificationView,
    Outcome,
    OutcomeStatus,
    ResetRequest,
)

# x-ms-summary of properties whose humanised name would say too little ("Model.property" first).
SUMMARIES = {
    "ticket_id": "Ticket ID",
    "dry_run": "Dry run (change nothing)",
    "remove_methods": "Method types to remove",
    "keep_methods": "Method types to keep",
    "temporary_access_pass": "Temporary Access Pass",
    "NewPhone.number": "Phone number",
    "NewPhone.type": "Phone type",
    "lifetime_minutes": "Lifetime (minutes)",
    "Outcome.id": "Reset ID",
    "Outcome.status": "Reset status",
    "Outcome.detail": "Reset detail",
    "Outcome.finished_at": "Finished at",
    "UserRef.id": "User object ID",
    "user_principal_name": "User principal name",
    "Step.detail": "Step detail",
    "Step.result": "Step result",
    "request_id": "Graph request ID",
    "GraphErrorInfo.status": "Graph HTTP status",
    "GraphErrorInfo.code": "Graph error code",
    "GraphErrorInfo.message": "Graph error message",
    "RegisteredMethod.type": "Method type",
    "RegisteredMethod.id": "Method ID",
    "RegisteredMethod.display": "Method label",
    "IssuedTemporaryAccessPass.value": "Temporary Access Pass value",
    "CallbackView.host": "Callback host",
    "CallbackView.state": "Callback state",
    "CallbackView.attempts": "Callback attempts",
    "CallbackView.last_status": "Callback last HTTP status",
    "CallerView.authenticated_by": "Caller authenticated by",
    "CallerView.app_id": "Caller application ID",
    "CallerView.name": "Caller application name",
    "CallerView.user_id": "Caller signed-in user ID",
    "CallerView.user_name": "Caller signed-in user name",
    "NotificationView.stage": "Notification stage",
    "NotificationView.recipient": "Notification recipient",
    "NotificationView.address": "Notification address (masked)",
    "NotificationView.result": "Notification result",
    "NotificationView.reason": "Notification reason",
    "DisputeView.at": "Disputed at",
    "DisputeView.recipient": "Disputed by",
}
# The request's fields a flow maker must see; the others are under "Show advanced options".
IMPORTANT = ("user", "ticket_id", "requested_by")

_REMOVE_ALL = {"const": "all", "type": "string"}
_METHOD_LIST = {"items": {"$ref": "#/$defs/MethodType"}, "type": "array"}


def _remove_methods(node: JsonSchema, translator: Translator) -> JsonSchema:
    """``"all" | list[MethodType]``: Swagger 2.0 has no union, so the list is described and
    "all" is what leaving it out means (the model's default)."""
    if node.get("anyOf") != [_REMOVE_ALL, _METHOD_LIST] or node.get("default") != "all":
        raise ValueError(
            "ResetRequest.remove_methods changed shape: update its override in "
            "shared/connector/bodies.py"
        )
    return {
        "type": "array",
        "items": {"type": "string", "enum": [t.value for t in MethodType]},
        "minItems": 1,
        "uniqueItems": True,
        "description": f"{node['description']} Leave it out to remove every method type "
        '(the default, "all"; the API also takes the JSON string "all", which an OpenAPI 2.0 '
        "schema cannot describe next to a list). keep_methods is applied after it.",
    }


def _views(translator: Translator) -> None:
    """``StatusView`` and ``ResetCallback``, built from the outcome's translated definition."""
    outcome = copy.deepcopy(translator.definitions["Outcome"])
    properties = outcome["properties"]
    statuses = (
        [s.value for s in OutcomeStatus]
        + [s.value for s in ResetStatus if s.value not in {o.value for o in OutcomeStatus}]
        + ["held"]
    )
    properties["status"] = {
        "type": "string",
        "enum": statuses,
        "description": "planned (a dry run), accepted, held (waiting until runs_at after the "
        "user was notified) or running (pending: the answer is 202), succeeded, failed, refused "
        "(a protected user; see detail) or cancelled (stopped before it ran); "
        "awaiting-verification while the user has to prove who they are.",
        "x-ms-summary": "Reset status",
    }
    properties["user"] = {
        **translator.inline("UserRef"),
        "x-nullable": True,
        "description": "null until the reset has started.",
        "x-ms-summary": "User",
    }
    properties["finished_at"] = {
        "type": "string",
        "format": "date-time",
        "x-nullable": True,
        "description": "When the reset ended; null while it is pending.",
        "x-ms-summary": "Finished at",
    }
    properties["attempts"] = {
        "type": "integer",
        "minimum": 0,
        "description": "Status reads: deliveries that ran the reset.",
        "x-ms-summary": "Attempts",
    }
    properties["accepted_at"] = {
        "type": "string",
        "format": "date-time",
        "description": "Status reads: when the reset was accepted.",
        "x-ms-summary": "Accepted at",
    }
    properties["callback"] = translator.reference(CallbackView.__name__)
    properties["caller"] = translator.reference(CallerView.__name__)
    properties["runs_at"] = {
        "type": "string",
        "format": "date-time",
        "description": "Status reads of a held reset: when it will run unless it is cancelled.",
        "x-ms-summary": "Runs at",
    }
    properties["notifications"] = {
        "type": "array",
        "items": translator.reference(NotificationView.__name__),
        "description": "How the user was told: each recipient of each notification.",
        "x-ms-summary": "Notifications",
    }
    properties["disputed"] = translator.reference(DisputeView.__name__)
    properties["verification"] = {
        "type": "object",
        "description": "A reset awaiting proof: the link to give the user, who proves who they "
        "are there (Verified ID and Face Check) before anything is changed.",
        "properties": {
            "state": {"type": "string", "enum": ["awaiting"], "x-ms-summary": "Proof state"},
            "link": {
                "type": "string",
                "x-nullable": True,
                "description": "The user's page.",
                "x-ms-summary": "Link for the user",
            },
        },
        "x-ms-summary": "Verification",
    }
    view_required = ["id", "ticket_id", "status", "steps"]
    translator.definitions["StatusView"] = {
        "type": "object",
        "description": "A reset: its outcome so far under its status. A synchronous reset and a "
        "dry run answer with the outcome alone; status reads (GET /api/resets/{reset_id}, a "
        "replayed submission, the end of an asynchronous reset) add attempts, accepted_at, "
        "finished_at, caller (who the app verified asked: the client application, and for a "
        "delegated token the signed-in user) and, when the request named a callback_url, "
        "callback (its host and delivery state).",
        "properties": properties,
        "required": view_required,
    }
    translator.definitions["ResetCallback"] = {
        "type": "object",
        "description": "What the app POSTs to a request's callback_url when the reset ends: the "
        "reset as GET /api/resets/{reset_id} shows it, plus the event. Signed per the Standard "
        "Webhooks specification (webhook-id, webhook-timestamp and webhook-signature headers); "
        "the same webhook-id on every attempt, so a receiver can drop duplicates.",
        "properties": {
            "event": {
                "type": "string",
                "enum": [e.value for e in CallbackEvent],
                "description": "How the reset ended.",
                "x-ms-summary": "Event",
            },
            **copy.deepcopy(properties),
        },
        "required": ["event", *view_required, "attempts", "accepted_at"],
    }


def _problem(translator: Translator) -> None:
    """The RFC 9457 problem document, with the extension members the app's problems carry."""

    def member(schema: JsonSchema, summary: str, description: str) -> JsonSchema:
        return {**schema, "description": description, "x-ms-summary": summary}

    text = {"type": "string"}
    translator.definitions["FieldError"] = {
        "type": "object",
        "properties": {
            "pointer": member(text, "Field", "JSON pointer into the request body (# the body)."),
            "detail": member(text, "Field error", "What is wrong with it."),
        },
        "required": ["pointer", "detail"],
    }
    translator.definitions["UnremovableMethod"] = {
        "type": "object",
        "properties": {
            "type": member(text, "Method type", "Its name, e.g. hardwareOath or qrCodePin."),
            "odata_type": member(text, "Graph type", "Graph's @odata.type of the method."),
            "id": member(text, "Method id", "The method's id in Graph."),
            "reason": member(text, "Reason", "Why it cannot be removed, and what would change it."),
        },
        "required": ["type", "odata_type", "id", "reason"],
    }
    translator.definitions["Problem"] = {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json). No problem ever "
        "echoes a submitted value back.",
        "properties": {
            "type": member(
                text, "Problem type", "urn:mfa-reset:problem:<kind>; stable, so branch on it."
            ),
            "title": member(text, "Title", "A short summary of the kind of problem."),
            "status": member({"type": "integer"}, "HTTP status", "The HTTP status code."),
            "detail": member(text, "Detail", "What happened, for a person."),
            "errors": member(
                {"type": "array", "items": {"$ref": "#/definitions/FieldError"}},
                "Field errors",
                "invalid-request: every field error at once.",
            ),
            "reason": member(text, "Protection", "target-protected: the kind of protection."),
            "rule": member(
                text,
                "Pass policy rule",
                "tap-not-allowed: tap-policy-disabled, tap-user-not-targeted, "
                "tap-user-excluded, tap-lifetime or tap-one-time-only.",
            ),
            "methods": member(
                {"type": "array", "items": {"$ref": "#/definitions/UnremovableMethod"}},
                "Methods not removable",
                "method-not-removable: each method the app cannot delete (type, odata_type, id, "
                "reason).",
            ),
            "limit": member(
                text, "Limit", "limit-reached: tenant-hourly-cap, user-cooldown or dry-run-rate."
            ),
            "retry_after_seconds": member(
                {"type": "integer"}, "Retry after (seconds)", "limit-reached: as Retry-After."
            ),
            "reset_id": member(
                text, "Reset ID", "limit-reached: the id the refusal is audited under."
            ),
            "graph_request_id": member(
                {**text, "x-nullable": True},
                "Graph request ID",
                "user-not-found: Graph's request-id of the lookup.",
            ),
            "graph_error": translator.reference("GraphErrorInfo"),
            "failed_read": member(
                text, "Failed read", "protection-check-failed: the read that failed."
            ),
            "permission": member(
                text, "Permission", "protection-check-failed: the Graph permission it needs."
            ),
            "outcome": translator.reference("Outcome"),
            "reset_status": member(
                text, "Reset status", "reset-not-cancellable: the status the reset is in."
            ),
        },
        "required": ["type", "title", "status"],
    }


def translate_bodies() -> dict[str, JsonSchema]:
    """Every definition of the connector, sorted by name."""
    translator = Translator(
        summaries=SUMMARIES, overrides={"ResetRequest.remove_methods": _remove_methods}
    )
    translator.model(ResetRequest.__name__, ResetRequest.model_json_schema(mode="validation"))
    for model in (Outcome, CallbackView, CallerView, NotificationView, DisputeView):
        translator.model(model.__name__, model.model_json_schema(mode="serialization"))
    request = translator.definitions[ResetRequest.__name__]
    for name, prop in request["properties"].items():
        prop["x-ms-visibility"] = "important" if name in IMPORTANT else "advanced"
    _views(translator)
    _problem(translator)
    unused = translator.unused_overrides()
    if unused:
        raise ValueError(f"overrides for properties the models no longer have: {unused}")
    return dict(sorted(translator.definitions.items()))
