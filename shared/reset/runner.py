"""Runs a recorded reset exactly once: claim, run with checkpoints, record the end.

Shared by the queue worker and synchronous HTTP requests, so both paths get the same guarantees:
one owner at a time, progress recorded after every step, a resumed attempt continuing from the
last checkpoint, and a final state written only by the owner.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from shared.audit import AuditEvent, emit_record
from shared.graph.contract import Gateway, GraphError, UserNotFoundError
from shared.guards import TargetPolicy, TargetProtectedError
from shared.ledger import LedgerRecord, ResetStatus
from shared.models import Outcome, OutcomeStatus, ResetRequest, Step, StepAction, StepResult
from shared.reset.engine import ResetEngine
from shared.reset.plan import PlanConflictError
from shared.reset.reads import ResetReads

if TYPE_CHECKING:
    from shared.ledger import Ledger
    from shared.notify.notifier import Notifier

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
    reads: ResetReads | None = None,
    notifier: Notifier | None = None,
) -> Outcome | None:
    """Run a reset this invocation has claimed and record how it ended.

    ``retry_transient``: when Graph stays unavailable, release the reset and raise
    ``RetryLaterError`` (the queue delivers the message again) instead of finishing it failed.
    ``notifier`` tells the user how it ended, whichever way it did.
    ``TargetProtectedError`` is recorded as ``refused``; ``UserNotFoundError``,
    ``PlanConflictError`` and a ``GraphError`` while resolving the user are recorded as
    failures. All are raised again for the caller to answer. ``LeaseLostError`` from a
    checkpoint means another worker owns the reset now; it propagates and nothing more is written.
    """

    async def checkpoint(outcome: Outcome) -> None:
        await ledger.checkpoint(record, outcome, lease_seconds)

    try:
        outcome = await ResetEngine(gateway, policy=policy).run(
            request,
            record.id,
            prior=record.outcome,
            on_progress=checkpoint,
            # A sweep resets many users in a few minutes: one tenant-wide read serves them all.
            reuse_tenant_reads=record.sweep_group_id is not None,
            reads=reads,
            # The user as admission resolved them: read by object id, in one round.
            user_id=record.user_id,
        )
    except TargetProtectedError as exc:
        await ledger.finish(record, ResetStatus.refused, None, exc.describe())
        emit_record(AuditEvent.refused, record)
        await _tell(notifier, record, None)
        # It reset nobody: its places under the limits go to the next legitimate reset. Two
        # requests for administrators must not use up the hour (the alert still sees both).
        try:
            await ledger.give_back(record)
        except Exception:  # the refusal stands; the place comes back when the hour ends
            log.warning("reset %s: its place under the limits was not given back", record.id)
        raise
    except UserNotFoundError:
        await ledger.finish(record, ResetStatus.failed, None, "no such user in the directory")
        emit_record(AuditEvent.failed, record)
        raise
    except PlanConflictError as exc:
        await ledger.finish(record, ResetStatus.failed, None, str(exc))
        emit_record(AuditEvent.failed, record)
        await _tell(notifier, record, None)
        raise
    except GraphError as exc:
        if retry_transient and exc.transient:
            await _release(ledger, record, record.outcome, str(exc))
            raise RetryLaterError(str(exc)) from exc
        # Not retryable: a synchronous caller was told it failed and may submit it again; an
        # asynchronous reset only gets here for errors another attempt would meet as well.
        await ledger.finish(record, ResetStatus.failed, record.outcome, str(exc))
        emit_record(AuditEvent.failed, record)
        await _tell(notifier, record, record.outcome)
        raise
    if outcome.status is OutcomeStatus.failed and outcome.retryable and retry_transient:
        await _release(ledger, record, outcome, outcome.detail or "Graph unavailable")
        raise RetryLaterError(outcome.detail or "Graph unavailable")
    succeeded = outcome.status is OutcomeStatus.succeeded
    removal = None
    if succeeded and record.sweep_group_id:
        removal = await leave_reset_group(gateway, record.sweep_group_id, outcome)
    await ledger.finish(
        record,
        ResetStatus.succeeded if succeeded else ResetStatus.failed,
        outcome,
        outcome.detail,
        group_removal=removal,
    )
    emit_record(AuditEvent.executed if succeeded else AuditEvent.failed, record)
    await _tell(notifier, record, outcome)
    return outcome


async def _tell(notifier: Notifier | None, record: LedgerRecord, outcome: Outcome | None) -> None:
    """The end's notification; it never changes how the reset ended."""
    if notifier is not None:
        await notifier.finished(record, outcome)


async def leave_reset_group(gateway: Gateway, group_id: str, outcome: Outcome) -> str:
    """Take a swept user out of the reset group once their reset has succeeded; the step goes
    into the outcome. Returns how it went (``done``, ``already_absent``, ``failed``): a failure
    leaves the reset succeeded, and the next scheduled run tries the removal again."""
    step = Step(action=StepAction.remove_from_group, detail=f"reset group {group_id}")
    try:
        removed = await gateway.remove_group_member(group_id, outcome.user.id)
    except GraphError as exc:
        step.result, step.error = StepResult.failed, exc.info()
    else:
        step.result = StepResult.done if removed else StepResult.already_absent
    outcome.steps.append(step)
    return str(step.result)


async def _release(
    ledger: Ledger, record: LedgerRecord, outcome: Outcome | None, error: str
) -> None:
    """Not an audit event: the reset is not over, the queue brings it back."""
    await ledger.release(record, outcome, error)
    log.warning(
        "reset %s paused after attempt %d, Graph unavailable; it will be retried",
        record.id,
        record.attempts,
        extra={"reset_id": record.id, "attempts": record.attempts},
    )
