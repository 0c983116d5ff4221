"""HTTP endpoints: ``POST /api/resets`` and the published request schema."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import azure.functions as func
from pydantic import ValidationError

from shared.graph.client import get_gateway
from shared.graph.contract import GraphError, UserNotFoundError
from shared.models import Outcome, OutcomeStatus, ResetRequest
from shared.problems import PROBLEM_CONTENT_TYPE, Problem, bad_request, validation_problem
from shared.reset.engine import ResetEngine
from shared.reset.plan import PlanConflictError
from shared.settings import SettingsError

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]

MAX_BODY_BYTES = 64 * 1024
# A response that may carry a Temporary Access Pass must not be kept by any cache.
_NO_STORE = {"Cache-Control": "no-store"}


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


def _outcome_problem(outcome: Outcome) -> Problem:
    return Problem(
        502,
        "reset-incomplete",
        "The reset did not complete",
        outcome.detail or "Graph did not carry out every step; see outcome.",
        extensions={"outcome": outcome.to_response()},
    )


async def run_reset(request: ResetRequest, reset_id: str) -> Outcome:
    """Run one reset and turn what stopped it before any change into a problem."""
    try:
        engine = ResetEngine(await get_gateway())
        return await engine.run(request, reset_id)
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
    except GraphError as exc:
        raise Problem(
            502,
            "graph-unavailable",
            "Microsoft Graph could not be reached or refused the request",
            "Nothing was changed.",
            extensions={"graph_error": exc.info().model_dump(mode="json")},
        ) from None
    except SettingsError as exc:
        log.error("configuration error: %s", exc)
        raise Problem(500, "configuration-error", "The app is misconfigured") from None


def _log_outcome(request: ResetRequest, outcome: Outcome) -> None:
    counts: dict[str, int] = {}
    for step in outcome.steps:
        counts[str(step.result)] = counts.get(str(step.result), 0) + 1
    log.log(
        logging.INFO if outcome.status is not OutcomeStatus.failed else logging.WARNING,
        "reset %s for ticket %s: %s",
        outcome.id,
        outcome.ticket_id,
        outcome.status,
        extra={
            "reset_id": outcome.id,
            "ticket_id": outcome.ticket_id,
            "requested_by": request.requested_by,
            "user_id": outcome.user.id,
            "status": str(outcome.status),
            "dry_run": outcome.dry_run,
            "step_results": counts,
        },
    )


@bp.route(route="resets", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def submit_reset(req: func.HttpRequest) -> func.HttpResponse:
    """Validate, reset, verify; answer with the outcome."""
    reset_id = str(uuid.uuid4())
    try:
        request = parse_reset_request(req)
        outcome = await run_reset(request, reset_id)
        _log_outcome(request, outcome)
        if outcome.status is OutcomeStatus.failed:
            raise _outcome_problem(outcome)
    except Problem as problem:
        return problem_response(problem)
    except Exception:
        log.exception("reset %s failed unexpectedly", reset_id)
        return problem_response(
            Problem(500, "internal-error", "Internal error", f"Reference: {reset_id}")
        )
    return _json_response(outcome.to_response())


@bp.route(route="schemas/reset-request", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def reset_request_schema(req: func.HttpRequest) -> func.HttpResponse:
    """The JSON Schema of the request body, so integrators can validate before they send."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **ResetRequest.model_json_schema(),
    }
    return func.HttpResponse(json.dumps(schema), mimetype="application/schema+json")
