"""One structured audit event per thing that happens to a reset request.

The security team asks: who asked, through which caller, to reset whom, under which ticket, what
was done, and what Graph said (request-ids for a support case). Each event answers that in one
line. The JSON is in the log message itself, after a fixed prefix, so it is queryable in
Application Insights whatever carries the log there (the Functions host's own logging or
OpenTelemetry); with OpenTelemetry the same fields also arrive as custom dimensions:

    traces
    | where message startswith "mfa-reset-audit "
    | extend e = parse_json(substring(message, strlen("mfa-reset-audit ")))
    | project timestamp, event = tostring(e.event), ticket = tostring(e.ticket_id),
              requested_by = tostring(e.requested_by), caller = tostring(e.caller.app_id),
              target = tostring(e.target), status = tostring(e.status)

Nothing secret goes in: steps carry method types and ids, never phone numbers or pass values;
a failed step carries Graph's status and error code, not its message.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from typing import Any

from shared.ledger import LedgerRecord
from shared.models import Outcome

log = logging.getLogger("mfa_reset.audit")
AUDIT_PREFIX = "mfa-reset-audit"


class AuditEvent(StrEnum):
    accepted = "accepted"  # recorded and queued
    previewed = "previewed"  # a dry run
    refused = "refused"  # protected target, caller without the role, or a limit reached
    executed = "executed"  # the reset ran and succeeded
    failed = "failed"  # the reset ran, or was given up, without succeeding
    callback_delivered = "callback-delivered"  # the ticket's receiver answered 2xx
    callback_failed = "callback-failed"  # every attempt failed, or the host is not allowed
    notified = "notified"  # the user was told (or could not be): one event per notification round
    cancelled = "cancelled"  # stopped before it ran, by its caller or by the user notified
    disputed = "disputed"  # someone notified said "this wasn't me" after the reset ran
    verified = "verified"  # the user proved who they are (Verified ID, Face Check)
    verification_failed = "verification-failed"  # a presentation did not prove it


_LEVELS = {
    AuditEvent.accepted: logging.INFO,
    AuditEvent.previewed: logging.INFO,
    AuditEvent.executed: logging.INFO,
    AuditEvent.refused: logging.WARNING,
    AuditEvent.failed: logging.ERROR,
    AuditEvent.callback_delivered: logging.INFO,
    AuditEvent.callback_failed: logging.ERROR,
    AuditEvent.notified: logging.INFO,
    AuditEvent.cancelled: logging.WARNING,
    AuditEvent.disputed: logging.ERROR,
    AuditEvent.verified: logging.INFO,
    AuditEvent.verification_failed: logging.WARNING,
}


def _steps(outcome: Outcome | None) -> list[dict[str, Any]]:
    if outcome is None:
        return []
    return [
        {
            "action": str(s.action),
            "method_type": str(s.method_type) if s.method_type else None,
            "method_id": s.method_id,
            "result": str(s.result),
            "graph_request_id": s.error.request_id if s.error else s.request_id,
            # What Graph answered a failed step: its HTTP status and error code (never its
            # message, which may quote the request), for failures by code and missing
            # permissions (403) in the workbook and the alerts.
            "graph_status": s.error.status if s.error else None,
            "graph_code": s.error.code if s.error else None,
        }
        for s in outcome.steps
    ]


def emit(
    event: AuditEvent,
    *,
    reset_id: str,
    ticket_id: str | None,
    requested_by: str | None,
    caller: dict[str, Any] | None,
    target: str | None,
    status: str,
    outcome: Outcome | None = None,
    detail: str | None = None,
    level: int | None = None,
    notifications: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Log the event; returns it (tests read what was written). ``notifications``: how each
    recipient was told, addresses masked."""
    steps = _steps(outcome)
    payload: dict[str, Any] = {
        "event": str(event),
        "reset_id": reset_id,
        "ticket_id": ticket_id,
        "requested_by": requested_by,
        "caller": caller,
        "target": target,
        "user_id": outcome.user.id if outcome else None,
        "status": status,
        "steps": steps,
        "graph_request_ids": [s["graph_request_id"] for s in steps if s["graph_request_id"]],
        "detail": detail,
        "notifications": notifications,
    }
    dimensions = {
        f"audit_{k}": v if isinstance(v, str | int | bool) or v is None else json.dumps(v)
        for k, v in payload.items()
    }
    log.log(
        level if level is not None else _LEVELS[event],
        "%s %s",
        AUDIT_PREFIX,
        json.dumps(payload, separators=(",", ":")),
        extra=dimensions,
    )
    return payload


def emit_record(
    event: AuditEvent,
    record: LedgerRecord,
    *,
    detail: str | None = None,
    level: int | None = None,
    caller: dict[str, Any] | None = None,
    notifications: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The event for a reset the ledger holds: who asked and who called come from its row,
    unless ``caller`` names who is calling now (a replay may come from another caller)."""
    return emit(
        event,
        reset_id=record.id,
        ticket_id=record.ticket_id,
        requested_by=record.requested_by,
        caller=caller if caller is not None else record.caller,
        target=record.target,
        status=str(record.status),
        outcome=record.outcome,
        detail=detail if detail is not None else record.last_error,
        level=level,
        notifications=notifications,
    )
