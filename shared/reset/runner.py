"""Runs a recorded reset exactly once: claim, run with checkpoints, record the end.

Shared by the queue worker and synchronous HTTP requests, so both paths get the same guarantees:
one owner at a time, progress recorded after every step, a resumed attempt continuing from the
last checkpoint, and a final state written only by the owner.
"""

from __future__ import annotations

import logging
import uuid

from shared.graph.contract import Gateway, GraphError, UserNotFoundError
from shared.guards import TargetPolicy, TargetProtectedError
from shared.ledger import Ledger, LedgerRecord, ResetStatus
from shared.models import Outcome, OutcomeStatus, ResetRequest
from shared.reset.engine import ResetEngine
from shared.reset.plan import PlanConflictError

log = logging.getLogger(__name__)


class RetryLaterError(Exception):
    """Graph was unavailable: the reset was released for a later attempt."""


def new_owner() -> str:
    """A lease owner name unique to one invocation."""
    return f"worker-{uuid.uuid4()}"


async def run_claimed(
    ledger: Ledger,
    gateway: Gateway,
    record: LedgerRecord,
    request: ResetRequest,
    *,
    lease_seconds: int,
    retry_transient: bool,
    policy: TargetPolicy,
) -> Outcome | None:
    """Run a reset this invocation has claimed and record how it ended.

    ``retry_transient``: when Graph stays unavailable, release the reset and raise
    ``RetryLaterError`` (the queue delivers the message again) instead of finishing it failed.
    ``TargetProtectedError`` is recorded as ``refused``; ``UserNotFoundError``,
    ``PlanConflictError`` and a ``GraphError`` while resolving the user are recorded as
    failures. All are raised again for the caller to answer. ``LeaseLostError`` from a
    checkpoint means another worker owns the reset now; it propagates and nothing more is written.
    """

    async def checkpoint(outcome: Outcome) -> None:
        await ledger.checkpoint(record, outcome, lease_seconds)

    try:
        outcome = await ResetEngine(gateway, policy=policy).run(
            request, record.id, prior=record.outcome, on_progress=checkpoint
        )
    except TargetProtectedError as exc:
        await ledger.finish(record, ResetStatus.refused, None, f"refused: {exc}")
        log.warning(
            "reset %s refused: %s",
            record.id,
            exc.reason,
            extra={"reset_id": record.id, "ticket_id": record.ticket_id, "reason": exc.reason},
        )
        raise
    except UserNotFoundError:
        await ledger.finish(record, ResetStatus.failed, None, "no such user in the directory")
        raise
    except PlanConflictError as exc:
        await ledger.finish(record, ResetStatus.failed, None, str(exc))
        raise
    except GraphError as exc:
        if retry_transient and exc.transient:
            await ledger.release(record, record.outcome, str(exc))
            raise RetryLaterError(str(exc)) from exc
        await ledger.finish(record, ResetStatus.failed, record.outcome, str(exc))
        raise
    if outcome.status is OutcomeStatus.failed and outcome.retryable and retry_transient:
        await ledger.release(record, outcome, outcome.detail or "Graph unavailable")
        raise RetryLaterError(outcome.detail or "Graph unavailable")
    status = (
        ResetStatus.succeeded if outcome.status is OutcomeStatus.succeeded else ResetStatus.failed
    )
    await ledger.finish(record, status, outcome, outcome.detail)
    log.info(
        "reset %s %s after %d attempt(s)",
        record.id,
        status,
        record.attempts,
        extra={"reset_id": record.id, "status": str(status), "attempts": record.attempts},
    )
    return outcome
