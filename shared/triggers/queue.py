"""Queue workers: run accepted resets, and give up visibly on the ones that keep failing.

Retries belong to the queue extension (host.json ``extensions.queues``): a function that raises
leaves its message to come back after ``visibilityTimeout``; after ``maxDequeueCount`` deliveries
the runtime moves it to ``<queue>-poison``, where the second function records the failure.
"""

from __future__ import annotations

import hmac
import logging

import azure.functions as func
from pydantic import SecretStr, ValidationError

from shared import audit
from shared.audit import AuditEvent
from shared.graph.client import get_gateway
from shared.graph.contract import GraphError, UserNotFoundError
from shared.guards import TargetPolicy, TargetProtectedError
from shared.ledger import LeaseLostError, LedgerRecord, get_ledger
from shared.models import CallbackState, ResetMessage
from shared.reset.callback_messages import callback_message
from shared.reset.plan import PlanConflictError
from shared.reset.runner import new_owner, run_claimed
from shared.settings import get_settings
from shared.signing import verify_work_item
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION, QUEUE_NAME

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


class InvalidMessageError(Exception):
    """A queue message that is not a reset message; its content stays out of the error."""


@bp.queue_trigger(arg_name="msg", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def process_reset(msg: func.QueueMessage, callbacks: func.Out[str]) -> None:
    """Run one accepted reset, exactly once however often its message is delivered."""
    try:
        message = ResetMessage.model_validate_json(msg.get_body())
    except ValidationError as exc:
        # Raising sends it, after the retries, to the poison queue where it can be inspected.
        # Not Pydantic's own error: its text repeats the input (a phone number) into the
        # host's exception log. Where it failed is enough to find the message.
        where = ", ".join(".".join(map(str, e["loc"])) or "(body)" for e in exc.errors())
        log.error("queue message %s is not a reset message (invalid: %s)", msg.id, where)
        raise InvalidMessageError(f"queue message {msg.id} is not a reset message") from None
    settings = get_settings()
    ledger = await get_ledger()
    admitted = await ledger.get(message.reset_id)
    if admitted is None:
        log.error("queue message %s names unknown reset %s", msg.id, message.reset_id)
        return
    forged = forgery(message, admitted, settings.signing_keys())
    if forged:
        _refuse_work_item(msg, admitted, forged)
        return
    # LeaseHeldError propagates: another worker is on it; the message comes back later and
    # then finds the reset finished, or the lease expired (that worker died) and takes over.
    try:
        record = await ledger.claim(message.reset_id, new_owner(), settings.lease_seconds)
    except KeyError:
        log.error("queue message %s names unknown reset %s", msg.id, message.reset_id)
        return
    if record.status.finished:
        log.info("reset %s already %s; message %s dropped", record.id, record.status, msg.id)
        return
    try:
        await run_claimed(
            ledger,
            await get_gateway(),
            record,
            message.request,
            lease_seconds=settings.lease_seconds,
            retry_transient=True,
            policy=TargetPolicy.from_settings(settings),
        )
    except (TargetProtectedError, UserNotFoundError, PlanConflictError, GraphError):
        pass  # recorded as failed in the ledger; another delivery would not change that
    except LeaseLostError:
        log.warning("reset %s was taken over by another worker; stopping", record.id)
        return
    # RetryLaterError propagates: Graph is unavailable, the queue delivers the message again.
    if message.request.callback_url is not None:
        queue_callback(await ledger.get(record.id), callbacks)


def queue_callback(record: LedgerRecord | None, callbacks: func.Out[str]) -> None:
    """Queue the callback of a reset that has ended, if it asked for one not yet delivered.

    The message names only the reset: where it goes and what it says come from the row.
    Written by the host when the function returns; if this instance dies first, the scheduled
    run finds the callback still pending and queues it.
    """
    if record is None or not record.status.finished or record.callback is None:
        return
    if record.callback.state is CallbackState.pending:
        callbacks.set(callback_message(get_settings().signing_keys(), record.id))


def forgery(message: ResetMessage, record: LedgerRecord, keys: tuple[SecretStr, ...]) -> str | None:
    """Why this message is not a work item the app admitted, or None when it is.

    The request must carry the signature recorded on the row at admission, and that signature
    must be the request's own under the app's key: a message naming a pending reset with
    another user or phone number, or a refused or never-admitted row, is not run.
    """
    request = message.request
    if request.dry_run or request.mode != "async" or request.temporary_access_pass:
        return "a queued reset is never a dry run, synchronous, or one that issues a pass"
    if not record.signature:
        return "the reset was never signed"
    if not hmac.compare_digest(message.signature, record.signature):
        return "its signature is not the one recorded when the reset was admitted"
    if not verify_work_item(keys, record.id, request, record.signature):
        return "its request is not the one the app admitted and signed"
    if not record.admitted and not record.status.finished:
        # The app queues a reset only once it is admitted (a refused one never); a finished
        # row is left to the claim, which drops a duplicate delivery without a word.
        return "the reset was never admitted"
    return None


def _refuse_work_item(msg: func.QueueMessage, record: LedgerRecord, why: str) -> None:
    """Audited at error level, the row left as it is: the genuine message may still come."""
    log.error("queue message %s for reset %s refused: %s", msg.id, record.id, why)
    audit.emit_record(
        AuditEvent.refused,
        record,
        detail=f"forged-work-item: queue message {msg.id} refused: {why}",
        level=logging.ERROR,
    )


@bp.queue_trigger(arg_name="msg", queue_name=f"{QUEUE_NAME}-poison", connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def reset_poisoned(msg: func.QueueMessage, callbacks: func.Out[str]) -> None:
    """The runtime gave up on a reset message: mark the reset failed and say so loudly.

    Only a message the app signed may fail a reset: anyone able to write to the poison queue
    could otherwise fail any pending reset.
    """
    try:
        message = ResetMessage.model_validate_json(msg.get_body())
    except ValidationError:
        log.error("unreadable message %s reached the poison queue; it is dropped", msg.id)
        return
    reset_id = message.reset_id
    ledger = await get_ledger()
    record = await ledger.get(reset_id)
    if record is not None:
        forged = forgery(message, record, get_settings().signing_keys())
        if forged:
            _refuse_work_item(msg, record, forged)
            return
    reason = "gave up after repeated failures"
    if record is not None and record.last_error:
        reason += f"; last error: {record.last_error}"
    record = await ledger.fail_abandoned(reset_id, reason)
    if record is None or record.status != "failed":
        # Finished meanwhile, or a worker still holds a live lease and will finish it.
        log.warning(
            "poisoned message for reset %s, which is %s", reset_id, record and record.status
        )
        return
    audit.emit_record(AuditEvent.failed, record, detail=f"abandoned: {reason}")
    queue_callback(record, callbacks)
