"""HTTP endpoints: submit a reset, read its status, the request schema and the API definition.

The asynchronous request-reply pattern (202 + ``Location`` + ``Retry-After``, then poll until the
status is no longer 202) is what Power Automate and Logic Apps follow natively, and it keeps a
ServiceNow outbound REST call well inside its timeout while Graph is slow or throttling. What a
submission does is decided in ``shared.reset.submission``; this module only speaks HTTP.
"""

from __future__ import annotations

import json
import logging
import re
import uuid

import azure.functions as func
from pydantic import ValidationError

from shared.connector import served_definition
from shared.guards import Caller, CallerRejectedError, authorize_caller, identify_caller
from shared.ledger import ResetStatus, get_ledger
from shared.models import ResetRequest
from shared.models.json_body import refuse_duplicate_keys
from shared.problems import Problem, bad_request, validation_problem
from shared.reset.status import find_reset
from shared.reset.submission import Disposition, audit_caller_refusal, submit
from shared.settings import SettingsError, get_settings
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION, QUEUE_NAME
from shared.triggers.delayed import queue_work_item
from shared.triggers.responses import (
    caller_problem,
    outcome_response,
    problem_response,
    refusal_problem,
    status_response,
)

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]

MAX_BODY_BYTES = 64 * 1024
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def parse_reset_request(req: func.HttpRequest) -> ResetRequest:
    """The validated request, or a 400 problem listing everything that is wrong with it."""
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise bad_request("The body must be JSON, sent with Content-Type: application/json.")
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise bad_request(f"The body is larger than {MAX_BODY_BYTES // 1024} KiB.")
    try:
        # Strict JSON mode keeps the last of a name given twice: refused first instead.
        refuse_duplicate_keys(body, ResetRequest.__name__)
        return ResetRequest.model_validate_json(body)
    except ValidationError as exc:
        raise validation_problem(exc) from None


def _idempotency_key(req: func.HttpRequest) -> str | None:
    key: str | None = req.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise bad_request("The Idempotency-Key header must be 1-255 visible ASCII characters.")
    return key


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
        audit_caller_refusal(exc, request, reset_id, caller)
        raise caller_problem(exc) from None
    return request, caller


async def _submit(req: func.HttpRequest, queue: func.Out[str], reset_id: str) -> func.HttpResponse:
    request, caller = await _authorized_request(req, reset_id)
    submission = await submit(
        request,
        reset_id,
        caller=caller,
        idempotency_key=_idempotency_key(req),
        settings=get_settings(),
    )
    if submission.work_item is not None:
        await queue_work_item(submission.work_item, submission.hold_until, queue)
    if submission.outcome is not None:  # planned, or run here to its end
        return outcome_response(submission.outcome)
    assert submission.record is not None
    replayed = submission.disposition is Disposition.replayed
    return status_response(
        req, submission.record, {"Idempotent-Replayed": "true"} if replayed else None
    )


def _unexpected(exc: Exception, reset_id: str) -> func.HttpResponse:
    """What is not a refusal: a misconfiguration or a bug, answered without internals."""
    if isinstance(exc, SettingsError):
        log.error("configuration error: %s", exc)
        return problem_response(Problem(500, "configuration-error", "The app is misconfigured"))
    log.exception("reset %s failed unexpectedly", reset_id)
    return problem_response(
        Problem(500, "internal-error", "Internal error", f"Reference: {reset_id}")
    )


@bp.route(route="resets", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="queue", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
async def submit_reset(req: func.HttpRequest, queue: func.Out[str]) -> func.HttpResponse:
    """Accept a reset (202, run by the queue worker), or run it now with "mode": "sync"."""
    reset_id = str(uuid.uuid4())
    try:
        return await _submit(req, queue, reset_id)
    except Problem as problem:
        return problem_response(problem)
    except Exception as exc:
        refusal = refusal_problem(exc)
        return problem_response(refusal) if refusal else _unexpected(exc, reset_id)


@bp.route(route="resets/{reset_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
async def get_reset(req: func.HttpRequest) -> func.HttpResponse:
    """The status of a reset: 202 while it is pending, 200 with the outcome once it has ended."""
    reset_id = req.route_params.get("reset_id") or ""
    try:
        settings = get_settings()
        authorize_caller(await identify_caller(req.headers, settings), settings, dry_run=True)
        record = await find_reset(reset_id)
    except CallerRejectedError as exc:
        return problem_response(caller_problem(exc))
    except SettingsError as exc:
        return _unexpected(exc, reset_id)
    if record is None:
        return problem_response(Problem(404, "reset-not-found", "No such reset"))
    notices = await (await get_ledger()).notices.about(record.id)
    return status_response(req, record, notices=notices)


@bp.route(route="resets/{reset_id}", methods=["DELETE"], auth_level=func.AuthLevel.FUNCTION)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def cancel_reset(req: func.HttpRequest, callbacks: func.Out[str]) -> func.HttpResponse:
    """Stop a reset that has not started (held, or still queued): it ends ``cancelled`` and
    nothing is done in Graph. A reset already running or ended cannot be cancelled (409)."""
    reset_id = req.route_params.get("reset_id") or ""
    try:
        settings = get_settings()
        caller = await identify_caller(req.headers, settings)
        authorize_caller(caller, settings, dry_run=False)
        record = await find_reset(reset_id)
        if record is None:
            return problem_response(Problem(404, "reset-not-found", "No such reset"))
        from shared.reset.cancel import cancel  # its first use, not at start-up

        stopped = await cancel(record.id, caller)
    except CallerRejectedError as exc:
        return problem_response(caller_problem(exc))
    except SettingsError as exc:
        return _unexpected(exc, reset_id)
    ended = stopped.record
    if ended is None:
        return problem_response(Problem(404, "reset-not-found", "No such reset"))
    if stopped.callback is not None:
        callbacks.set(stopped.callback)
    if ended.status is not ResetStatus.cancelled:
        return problem_response(
            Problem(
                409,
                "reset-not-cancellable",
                "The reset can no longer be cancelled",
                f"It is {ended.status}: only a reset that has not started can be cancelled.",
                extensions={"reset_status": str(ended.status)},
            )
        )
    return status_response(req, ended)


@bp.route(route="schemas/reset-request", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def reset_request_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The JSON Schema of the request body, so integrators can validate before they send."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **ResetRequest.model_json_schema(),
    }
    return func.HttpResponse(json.dumps(schema), mimetype="application/schema+json")


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def connector_definition(req: func.HttpRequest) -> func.HttpResponse:
    """This API's OpenAPI 2.0 definition, with the host it was asked on: what a Power Platform
    custom connector or Logic Apps imports (the same as connector/apiDefinition.swagger.json)."""
    return func.HttpResponse(served_definition(req.url), mimetype="application/json")
