"""How the domain's answers and refusals become HTTP responses.

Every refusal the reset domain raises maps to one RFC 9457 problem here, so the catalogue of
problem types a caller can meet is in one place. Every response says ``no-store``: one may carry
a Temporary Access Pass, and none should sit in a cache.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import azure.functions as func

from shared.graph.contract import GraphError, ProtectionReadError, UserNotFoundError
from shared.guards import CallerRejectedError, TargetProtectedError
from shared.ledger import IdempotencyConflictError, LedgerRecord, LimitReachedError
from shared.models import Outcome, OutcomeStatus
from shared.problems import PROBLEM_CONTENT_TYPE, Problem
from shared.reset.callbacks import CallbackNotAllowedError
from shared.reset.plan import (
    MethodNotRemovableError,
    PlanConflictError,
    TapNotAllowedError,
    type_name,
    why_not_removable,
)
from shared.reset.status import status_view
from shared.reset.submission import DryRunLimitError
from shared.settings import get_settings
from shared.verify.errors import VerificationNotConfiguredError

if TYPE_CHECKING:
    from shared.ledger.notices import Notices

_NO_STORE = {"Cache-Control": "no-store"}


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        mimetype="application/json",
        headers={**_NO_STORE, **(headers or {})},
    )


def page_response(text: str) -> func.HttpResponse:
    """A page for a person: always 200 (a used or expired link gets a page that says so, not an
    error), never cached, never framed, its strict Content-Security-Policy naming the one
    inline style sheet by its hash, and no Referer that would carry the link's token."""
    from shared.notify.pages import content_security_policy  # pages load it, not start-up

    return func.HttpResponse(
        text,
        status_code=200,
        mimetype="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": content_security_policy(),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        },
    )


def problem_response(problem: Problem) -> func.HttpResponse:
    return func.HttpResponse(
        problem.body(),
        status_code=problem.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **_NO_STORE, **problem.headers},
    )


def status_url(req: func.HttpRequest, reset_id: str) -> str:
    parts = urlsplit(req.url)
    path = f"/api/resets/{reset_id}"
    return f"{parts.scheme}://{parts.netloc}{path}" if parts.netloc else path


def status_response(
    req: func.HttpRequest,
    record: LedgerRecord,
    extra_headers: dict[str, str] | None = None,
    *,
    notices: Notices | None = None,
) -> func.HttpResponse:
    """202 with Location and Retry-After while the reset is pending, 200 once it has ended."""
    headers = {"Location": status_url(req, record.id), **(extra_headers or {})}
    view = status_view(record, notices)
    if record.status.finished:
        return json_response(view, 200, headers)
    headers["Retry-After"] = str(get_settings().status_retry_after_seconds)
    return json_response(view, 202, headers)


def outcome_response(outcome: Outcome) -> func.HttpResponse:
    """A reset run (or planned) here: 200, or 502 when Graph did not carry out every step."""
    if outcome.status is OutcomeStatus.failed:
        return problem_response(
            Problem(
                502,
                "reset-incomplete",
                "The reset did not complete",
                outcome.detail or "Graph did not carry out every step; see outcome.",
                extensions={"outcome": outcome.to_response()},
            )
        )
    return json_response(outcome.to_response())


def caller_problem(exc: CallerRejectedError) -> Problem:
    title = "No signed-in caller" if exc.status == 401 else "The caller may not do this"
    return Problem(exc.status, exc.kind, title, exc.detail)


def refusal_problem(exc: Exception) -> Problem | None:
    """The problem for a refusal the domain raised before any change; None if not one."""
    if isinstance(exc, CallerRejectedError):
        return caller_problem(exc)
    if isinstance(exc, TargetProtectedError):
        return Problem(
            403,
            "target-protected",
            "This account is protected from automated MFA resets",
            f"{exc.public()}. Use the privileged-account procedure instead.",
            extensions={"reason": exc.reason},
        )
    if isinstance(exc, UserNotFoundError):
        return Problem(
            404,
            "user-not-found",
            "No such user",
            "Graph has no user with this userPrincipalName or object id.",
            extensions={"graph_request_id": exc.request_id},
        )
    if isinstance(exc, CallbackNotAllowedError):
        return Problem(
            400,
            exc.kind,
            "The callback cannot be accepted",
            exc.detail,
            extensions={"errors": [{"pointer": "#/callback_url", "detail": exc.detail}]},
        )
    if isinstance(exc, VerificationNotConfiguredError):
        return Problem(
            400,
            exc.kind,
            "Proof of identity cannot be asked for",
            exc.detail,
            extensions={"errors": [{"pointer": "#/verification", "detail": exc.detail}]},
        )
    if isinstance(exc, TapNotAllowedError):
        return Problem(
            409,
            "tap-not-allowed",
            "The Temporary Access Pass policy would refuse this pass",
            f"Nothing was changed: {exc.detail}.",
            extensions={"rule": exc.rule},
        )
    if isinstance(exc, MethodNotRemovableError):
        return Problem(
            409,
            "method-not-removable",
            "The user holds a method this app cannot remove",
            f"Nothing was changed: {exc}.",
            extensions={
                "methods": [
                    {
                        "type": type_name(m.odata_type),
                        "odata_type": m.odata_type,
                        "id": m.id,
                        "reason": why_not_removable(m),
                    }
                    for m in exc.methods
                ]
            },
        )
    if isinstance(exc, PlanConflictError):
        return Problem(409, "reset-conflict", "The reset cannot be done as asked", str(exc))
    if isinstance(exc, IdempotencyConflictError):
        return Problem(422, "idempotency-key-reused", "Idempotency key reused", str(exc))
    if isinstance(exc, LimitReachedError | DryRunLimitError):
        return _limit_problem(exc)
    if isinstance(exc, ProtectionReadError):
        return Problem(
            502,
            "protection-check-failed",
            "Could not decide whether the account is protected",
            f"Nothing was changed: reading {exc.read} failed. If Graph answered 403, grant the "
            f"app's identity {exc.permission}.",
            extensions={
                "failed_read": exc.read,
                "permission": exc.permission,
                "graph_error": exc.info().model_dump(mode="json"),
            },
        )
    if isinstance(exc, GraphError):
        return Problem(
            502,
            "graph-unavailable",
            "Microsoft Graph could not be reached or refused the request",
            "Nothing was changed.",
            extensions={"graph_error": exc.info().model_dump(mode="json")},
        )
    return None


def _limit_problem(exc: LimitReachedError | DryRunLimitError) -> Problem:
    headers = {"Retry-After": str(exc.retry_after)}
    if isinstance(exc, DryRunLimitError):
        return Problem(
            429,
            "limit-reached",
            "Too many dry runs",
            f"{exc.detail}; retry after the time given.",
            extensions={"limit": exc.limit, "retry_after_seconds": exc.retry_after},
            headers=headers,
        )
    return Problem(
        429,
        "limit-reached",
        "Too many MFA resets",
        f"{exc.detail}. This is a safety limit against mass resets; if the resets are "
        "legitimate, retry after the time given, or ask an administrator to raise the limit.",
        extensions={
            "limit": exc.limit,
            "retry_after_seconds": exc.retry_after,
            "reset_id": exc.record.id,
        },
        headers=headers,
    )
