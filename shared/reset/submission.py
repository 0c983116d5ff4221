"""Submitting a reset: the one entry for HTTP callers, whatever the request asks for.

A dry run is planned and nothing is recorded. A real request is checked against the directory
(an unknown user is refused before anything is recorded), admitted under idempotency and the
blast-radius limits, then queued or run here. The HTTP trigger turns HTTP into this call and the
answer into a response; refusals are the domain's own exceptions (``shared.problems`` maps each
to the problem a caller gets), audited here before they leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from shared import audit
from shared.audit import AuditEvent
from shared.graph.client import get_gateway
from shared.graph.contract import Gateway, GraphError, UserNotFoundError
from shared.guards import Caller, CallerRejectedError, TargetPolicy, TargetProtectedError
from shared.ledger import IdempotencyConflictError, LeaseLostError, LedgerRecord, get_ledger
from shared.models import Outcome, ResetRequest
from shared.reset.callbacks import check_callback_allowed
from shared.reset.engine import ResetEngine
from shared.reset.intake import accept_reset
from shared.reset.plan import PlanConflictError
from shared.reset.reads import ResetReads
from shared.reset.runner import new_owner, run_claimed
from shared.settings import Settings
from shared.signing import work_item


class Disposition(StrEnum):
    """What became of a submission."""

    planned = "planned"  # a dry run: ``outcome`` is the plan, nothing recorded or changed
    accepted = "accepted"  # recorded; ``work_item`` is the message to queue
    replayed = "replayed"  # the same request was submitted before; ``record`` is that reset
    finished = "finished"  # run here (``sync``); ``outcome`` says how it went
    taken_over = "taken-over"  # run here, but another worker owns it now; ``record`` is it


@dataclass(frozen=True)
class Submission:
    disposition: Disposition
    record: LedgerRecord | None = None
    outcome: Outcome | None = None
    # A signed work item for the queue worker, when one must be queued.
    work_item: str | None = None
    # When the work item may run: a held reset's message is sent with this delay.
    hold_until: datetime | None = None


class DryRunLimitError(Exception):
    """The caller has used up its dry runs for this clock hour."""

    limit = "dry-run-rate"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.detail = detail
        self.retry_after = retry_after


def audit_request(
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


def audit_caller_refusal(
    exc: CallerRejectedError, request: ResetRequest | None, reset_id: str, caller: Caller | None
) -> None:
    """A caller without the right role leaves a trace, though nothing else happens."""
    detail = f"{exc.kind}: {exc.detail}"
    audit_request(AuditEvent.refused, request, reset_id, caller, "refused", detail=detail)


async def submit(
    request: ResetRequest,
    reset_id: str,
    *,
    caller: Caller,
    idempotency_key: str | None,
    settings: Settings,
) -> Submission:
    """Plan, accept or run ``request`` for an authorized ``caller``.

    Raises what stops it before any change: ``DryRunLimitError``, ``UserNotFoundError``,
    ``TargetProtectedError``, ``PlanConflictError``, ``GraphError`` (including
    ``ProtectionReadError``), ``IdempotencyConflictError``, ``LimitReachedError``,
    ``CallbackNotAllowedError``.
    """
    if request.dry_run:
        return await _plan(request, reset_id, caller, settings)
    settings.signing_keys()  # no key, no admission: fail before anything is read or written
    if request.callback_url is not None:
        check_callback_allowed(request.callback_url, settings)
    from shared.reset.verification import check_ready, needs_proof

    if needs_proof(request, settings, caller):
        check_ready(settings)
    gateway = await get_gateway()
    policy = TargetPolicy.from_settings(settings)
    # A reset run here starts all its reads now; they go on while the ledger is written.
    reads = (
        ResetReads(
            gateway, request.user, policy, tap_policy=request.temporary_access_pass is not None
        )
        if request.mode == "sync"
        else None
    )
    try:
        return await _admit_and_run(
            request, reset_id, caller, idempotency_key, settings, _Reading(gateway, policy, reads)
        )
    finally:
        if reads is not None:
            await reads.close()


@dataclass(frozen=True)
class _Reading:
    """How a submission reads Graph: one gateway, one policy, and for a synchronous reset the
    reads already under way."""

    gateway: Gateway
    policy: TargetPolicy
    reads: ResetReads | None


async def _admit_and_run(
    request: ResetRequest,
    reset_id: str,
    caller: Caller,
    idempotency_key: str | None,
    settings: Settings,
    reading: _Reading,
) -> Submission:
    # Who the target is, before anything is recorded: an unknown user is a 404 now rather
    # than a failed reset later, and the per-user limit counts the object id, however the
    # request names the user.
    gateway, reads = reading.gateway, reading.reads
    user = await (reads.user() if reads else gateway.get_user(request.user))
    ledger = await get_ledger()
    owner = new_owner() if request.mode == "sync" else None
    try:
        record, created = await accept_reset(
            ledger,
            request,
            reset_id,
            caller=caller,
            settings=settings,
            idempotency_key=idempotency_key,
            claim_for=owner,
            user=user,
            awaiting_verification=_needs_proof(request, settings, caller),
        )
    except IdempotencyConflictError as exc:
        # A different request under a key already used: a client bug, or someone replaying.
        detail = f"idempotency-key-reused: {exc}"
        audit_request(AuditEvent.refused, request, reset_id, caller, "refused", detail=detail)
        raise
    if not created:
        return _replayed(record, caller)
    from shared.notify.notifier import Notifier  # loaded by the first reset, not at start-up

    notifier = Notifier(gateway.mail, ledger, settings)
    if request.mode == "async":
        audit.emit_record(AuditEvent.accepted, record)
        # Before the work item leaves: the user hears of the reset before anything changes.
        await notifier.accepted(record, user, runs_at=record.hold_until)
        return Submission(
            Disposition.accepted,
            record,
            work_item=work_item(record, request),
            hold_until=record.hold_until,
        )
    await notifier.accepted(record, user, runs_at=None)
    try:
        outcome = await run_claimed(
            ledger,
            gateway,
            record,
            request,
            lease_seconds=settings.lease_seconds,
            retry_transient=False,
            policy=reading.policy,
            reads=reads,
            notifier=notifier,
        )
    except LeaseLostError:
        fresh = await ledger.get(record.id)
        return Submission(Disposition.taken_over, fresh or record)
    return Submission(Disposition.finished, record, outcome)


def _needs_proof(request: ResetRequest, settings: Settings, caller: Caller) -> bool:
    from shared.reset.verification import needs_proof

    return needs_proof(request, settings, caller)


def _replayed(record: LedgerRecord, caller: Caller) -> Submission:
    audit.emit_record(
        AuditEvent.accepted,
        record,
        caller=caller.to_audit(),
        detail=f"replay of an earlier submission, which is {record.status}",
    )
    stored = record.stored_request()
    item = None
    if record.status == "accepted" and record.admitted and stored and record.signature:
        # The first submission may have been recorded but never queued: queue it again, as
        # recorded (never the replay's own copy, whose phone number the ledger cannot
        # compare). Running it twice is harmless, the claim lets only one worker through.
        item = work_item(record, stored)
    return Submission(Disposition.replayed, record, work_item=item, hold_until=record.hold_until)


async def _plan(
    request: ResetRequest, reset_id: str, caller: Caller, settings: Settings
) -> Submission:
    """A dry run: what a reset would do, limited per caller so it cannot map the tenant."""
    cap = settings.dry_runs_per_caller_per_hour
    who = caller.app_id or caller.authenticated_by
    retry_after = await (await get_ledger()).count_in_window(f"dry-run|{who}", cap)
    if retry_after is not None:
        detail = f"{cap} dry runs per hour reached for this caller"
        audit_request(
            AuditEvent.refused, request, reset_id, caller, "refused", detail=f"limit: {detail}"
        )
        raise DryRunLimitError(detail, retry_after)
    engine = ResetEngine(await get_gateway(), policy=TargetPolicy.from_settings(settings))
    try:
        outcome = await engine.run(request, reset_id)
    except TargetProtectedError as exc:
        detail = exc.describe()
        audit_request(AuditEvent.refused, request, reset_id, caller, "refused", detail=detail)
        raise
    except (UserNotFoundError, PlanConflictError, GraphError) as exc:
        # What stopped the plan is answered as a problem; the preview is audited as failed.
        audit_request(AuditEvent.previewed, request, reset_id, caller, "failed", detail=_why(exc))
        raise
    audit_request(
        AuditEvent.previewed, request, reset_id, caller, str(outcome.status), outcome=outcome
    )
    return Submission(Disposition.planned, outcome=outcome)


def _why(exc: Exception) -> str:
    """Why a plan stopped, for the audit trail (Graph's message text stays out of it)."""
    if isinstance(exc, GraphError):
        return f"Graph answered {exc.status} {exc.code}"
    if isinstance(exc, UserNotFoundError):
        return "Graph has no such user"
    return str(exc)
