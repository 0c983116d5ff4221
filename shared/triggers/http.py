"""HTTP endpoints: submit a reset, read its status, and the published request schema.

The asynchronous request-reply pattern (202 + ``Location`` + ``Retry-After``, then poll until the
status is no longer 202) is what Power Automate and Logic Apps follow natively, and it keeps a
ServiceNow outbound REST call well inside its timeout while Graph is slow or throttling.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import azure.functions as func
from pydantic import ValidationError

from shared import audit
from shared.audit import AuditEvent
from shared.graph.client import get_gateway
from shared.graph.contract import GraphError, ProtectionReadError, UserNotFoundError
from shared.guards import (
    Caller,
    CallerRejectedError,
    TargetPolicy,
    TargetProtectedError,
    authorize_caller,
    identify_caller,
)
from shared.guards.targets import public_refusal
from shared.ledger import (
    IdempotencyConflictError,
    LeaseLostError,
    LedgerRecord,
    LimitReachedError,
    get_ledger,
)
from shared.models import Outcome, OutcomeStatus, ResetRequest
from shared.problems import PROBLEM_CONTENT_TYPE, Problem, bad_request, validation_problem
from shared.reset.engine import ResetEngine
from shared.reset.intake import accept_reset
from shared.reset.plan import PlanConflictError
from shared.reset.runner import new_owner, run_claimed
from shared.settings import SettingsError, get_settings
from shared.signing import work_item

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]

MAX_BODY_BYTES = 64 * 1024
QUEUE_CONNECTION = "RESET_STORAGE"
QUEUE_NAME = "%RESET_QUEUE_NAME%"
# A response that may carry a Temporary Access Pass must not be kept by any cache.
_NO_STORE = {"Cache-Control": "no-store"}
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_RESET_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body),
        status_code=status,
        mimetype="application/json",
        headers={**_NO_STORE, **(headers or {})},
    )


def problem_response(problem: Problem) -> func.HttpResponse:
    return func.HttpResponse(
        problem.body(),
        status_code=problem.status,
        headers={"Content-Type": PROBLEM_CONTENT_TYPE, **_NO_STORE, **problem.headers},
    )


def parse_reset_request(req: func.HttpRequest) -> ResetRequest:
    """The validated request, or a 400 problem listing everything that is wrong with it."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise bad_request("The body must be JSON, sent with Content-Type: application/json.")
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise bad_request(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    try:
        return ResetRequest.model_validate_json(body)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def _idempotency_key(req: func.HttpRequest) -> str | None:
    key: str | None = req.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise bad_request("The Idempotency-Key header must be 1-255 visible ASCII characters.")
    return key


def status_url(req: func.HttpRequest, reset_id: str) -> str:
    parts = urlsplit(req.url)
    path = f"/api/resets/{reset_id}"
    return f"{parts.scheme}://{parts.netloc}{path}" if parts.netloc else path


def record_view(record: LedgerRecord) -> dict[str, Any]:
    """A reset as a status read shows it: the outcome so far, under the ledger's status."""
    if record.outcome is not None:
        body = record.outcome.to_record()
    else:
        body = {"id": record.id, "ticket_id": record.ticket_id, "user": None, "steps": []}
    body.update(
        status=str(record.status),
        attempts=record.attempts,
        accepted_at=record.accepted_at.isoformat(),
        # A re-driven reset keeps the time it first failed; it is not finished any more.
        finished_at=(
            record.finished_at.isoformat()
            if record.finished_at and record.status.finished
            else None
        ),
    )
    if record.last_error and not body.get("detail"):
        body["detail"] = public_refusal(record.last_error)
    return body


def status_response(
    req: func.HttpRequest, record: LedgerRecord, extra_headers: dict[str, str] | None = None
) -> func.HttpResponse:
    """202 with Location and Retry-After while the reset is pending, 200 once it has ended."""
    headers = {"Location": status_url(req, record.id), **(extra_headers or {})}
    if record.status.finished:
        return _json_response(record_view(record), 200, headers)
    headers["Retry-After"] = str(get_settings().status_retry_after_seconds)
    return _json_response(record_view(record), 202, headers)


def _outcome_response(outcome: Outcome) -> func.HttpResponse:
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
    return _json_response(outcome.to_response())


@contextlib.contextmanager
def _reset_problems() -> Iterator[None]:
    """Answer what stopped a reset before any change with the matching problem."""
    try:
        yield
    except TargetProtectedError as exc:
        raise Problem(
            403,
            "target-protected",
            "This account is protected from automated MFA resets",
            f"{exc.public()}. Use the privileged-account procedure instead.",
            extensions={"reason": exc.reason},
        ) from None
    except UserNotFoundError as exc:
        raise Problem(
            404,
            "user-not-found",
            "No such user",
            "Graph has no user with this userPrincipalName or object id.",
            extensions={"graph_request_id": exc.request_id},
        ) from None
    except PlanConflictError as exc:
        raise Problem(
            409, "reset-conflict", "The reset cannot be done as asked", str(exc)
        ) from None
    except ProtectionReadError as exc:
        raise Problem(
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
        ) from None
    except GraphError as exc:
        raise Problem(
            502,
            "graph-unavailable",
            "Microsoft Graph could not be reached or refused the request",
            "Nothing was changed.",
            extensions={"graph_error": exc.info().model_dump(mode="json")},
        ) from None


def _audit_request(
    event: AuditEvent,
    request: ResetRequest | None,
    reset_id: str,
    caller: Caller | None,
    status: str,
    *,
    outcome: Outcome | None = None,
    detail: str | None = None,
) -> None:
    """An audit event for a request that has no ledger row (refused callers, dry runs)."""
    audit.emit(
        event,
        reset_id=reset_id,
        ticket_id=request.ticket_id if request else None,
        requested_by=request.requested_by if request else None,
        caller=caller.to_audit() if caller else None,
        target=request.user if request else None,
        status=status,
        outcome=outcome,
        detail=detail,
    )


async def _authorized_request(req: func.HttpRequest, reset_id: str) -> tuple[ResetRequest, Caller]:
    """The caller and its validated request; 401/403 for a caller without the right role.

    The body is read before the role check because a dry run needs a lesser role; nothing is
    done with it until the check has passed.
    """
    settings = get_settings()
    caller: Caller | None = None
    request: ResetRequest | None = None
    try:
        caller = await identify_caller(req.headers, settings)
        request = parse_reset_request(req)
        authorize_caller(caller, settings, dry_run=request.dry_run)
    except CallerRejectedError as exc:
        problem = _caller_problem(exc)
        _audit_request(
            AuditEvent.refused,
            request,
            reset_id,
            caller,
            "refused",
            detail=f"{problem.kind}: {exc.detail}",
        )
        raise problem from None
    return request, caller


def _caller_problem(exc: CallerRejectedError) -> Problem:
    if exc.status == 401:
        return Problem(401, "caller-unauthenticated", "No signed-in caller", exc.detail)
    return Problem(403, "caller-forbidden", "The caller may not do this", exc.detail)


async def _dry_run(request: ResetRequest, reset_id: str, caller: Caller) -> func.HttpResponse:
    settings = get_settings()
    cap = settings.dry_runs_per_caller_per_hour
    who = caller.app_id or caller.authenticated_by
    retry_after = await (await get_ledger()).count_in_window(f"dry-run|{who}", cap)
    if retry_after is not None:
        detail = f"{cap} dry runs per hour reached for this caller"
        _audit_request(
            AuditEvent.refused, request, reset_id, caller, "refused", detail=f"limit: {detail}"
        )
        raise Problem(
            429,
            "limit-reached",
            "Too many dry runs",
            f"{detail}; retry after the time given.",
            extensions={"limit": "dry-run-rate", "retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )
    policy = TargetPolicy.from_settings(settings)
    try:
        with _reset_problems():
            try:
                engine = ResetEngine(await get_gateway(), policy=policy)
                outcome = await engine.run(request, reset_id)
            except TargetProtectedError as exc:
                _audit_request(
                    AuditEvent.refused, request, reset_id, caller, "refused", detail=exc.describe()
                )
                raise
    except Problem as problem:
        if problem.status != 403:
            _audit_request(
                AuditEvent.previewed, request, reset_id, caller, "failed", detail=problem.detail
            )
        raise
    _audit_request(
        AuditEvent.previewed, request, reset_id, caller, str(outcome.status), outcome=outcome
    )
    return _outcome_response(outcome)


def _limit_problem(exc: LimitReachedError) -> Problem:
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
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _submit(req: func.HttpRequest, queue: func.Out[str], reset_id: str) -> func.HttpResponse:
    request, caller = await _authorized_request(req, reset_id)
    key = _idempotency_key(req)
    if request.dry_run:
        return await _dry_run(request, reset_id, caller)
    settings = get_settings()
    settings.signing_keys()  # no key, no admission: fail before anything is read or written
    # Who the target is, before anything is recorded: an unknown user is a 404 now rather
    # than a failed reset later, and the per-user limit counts the object id, however the
    # request names the user.
    with _reset_problems():
        user = await (await get_gateway()).get_user(request.user)
    ledger = await get_ledger()
    owner = new_owner() if request.mode == "sync" else None
    try:
        record, created = await accept_reset(
            ledger,
            request,
            reset_id,
            caller=caller,
            settings=settings,
            idempotency_key=key,
            claim_for=owner,
            user=user,
        )
    except IdempotencyConflictError as exc:
        # A different request under a key already used: a client bug, or someone replaying.
        _audit_request(
            AuditEvent.refused,
            request,
            reset_id,
            caller,
            "refused",
            detail=f"idempotency-key-reused: {exc}",
        )
        raise Problem(422, "idempotency-key-reused", "Idempotency key reused", str(exc)) from None
    except LimitReachedError as exc:
        raise _limit_problem(exc) from None
    if not created:
        audit.emit_record(
            AuditEvent.accepted,
            record,
            caller=caller.to_audit(),
            detail=f"replay of an earlier submission, which is {record.status}",
        )
        stored = record.stored_request()
        if record.status == "accepted" and record.admitted and stored and record.signature:
            # The first submission may have been recorded but never queued: queue it again,
            # as recorded (never the replay's own copy, whose phone number the ledger cannot
            # compare). Running it twice is harmless, the claim lets only one worker through.
            queue.set(work_item(record, stored))
        return status_response(req, record, {"Idempotent-Replayed": "true"})
    if request.mode == "async":
        queue.set(work_item(record, request))
        audit.emit_record(AuditEvent.accepted, record)
        return status_response(req, record)
    try:
        with _reset_problems():
            outcome = await run_claimed(
                ledger,
                await get_gateway(),
                record,
                request,
                lease_seconds=settings.lease_seconds,
                retry_transient=False,
                policy=TargetPolicy.from_settings(settings),
            )
    except LeaseLostError:
        fresh = await ledger.get(record.id)
        return status_response(req, fresh or record)
    assert outcome is not None
    return _outcome_response(outcome)


@bp.route(route="resets", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="queue", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
async def submit_reset(req: func.HttpRequest, queue: func.Out[str]) -> func.HttpResponse:
    """Accept a reset (202, run by the queue worker), or run it now with "mode": "sync"."""
    reset_id = str(uuid.uuid4())
    try:
        return await _submit(req, queue, reset_id)
    except Problem as problem:
        return problem_response(problem)
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return problem_response(Problem(500, "configuration-error", "The app is misconfigured"))
    except Exception:
        log.exception("reset %s failed unexpectedly", reset_id)
        return problem_response(
            Problem(500, "internal-error", "Internal error", f"Reference: {reset_id}")
        )


@bp.route(route="resets/{reset_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_reset(req: func.HttpRequest) -> func.HttpResponse:
    """The status of a reset: 202 while it is pending, 200 with the outcome once it has ended."""
    reset_id = (req.route_params.get("reset_id") or "").lower()
    try:
        settings = get_settings()
        caller = await identify_caller(req.headers, settings)
        authorize_caller(caller, settings, dry_run=True)
    except CallerRejectedError as exc:
        return problem_response(_caller_problem(exc))
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return problem_response(Problem(500, "configuration-error", "The app is misconfigured"))
    try:
        record = await (await get_ledger()).get(reset_id) if _RESET_ID.match(reset_id) else None
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        return problem_response(Problem(500, "configuration-error", "The app is misconfigured"))
    if record is None:
        return problem_response(Problem(404, "reset-not-found", "No such reset"))
    return status_response(req, record)


@bp.route(route="schemas/reset-request", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def reset_request_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The JSON Schema of the request body, so integrators can validate before they send."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **ResetRequest.model_json_schema(),
    }
    return func.HttpResponse(json.dumps(schema), mimetype="application/schema+json")
