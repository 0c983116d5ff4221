"""Queue workers: run accepted resets, and give up visibly on the ones that keep failing.

Retries belong to the queue extension (host.json ``extensions.queues``): a function that raises
leaves its message to come back after ``visibilityTimeout``; after ``maxDequeueCount`` deliveries
the runtime moves it to ``<queue>-poison``, where the second function records the failure.
"""

from __future__ import annotations

import hmac
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import azure.functions as func
from pydantic import ValidationError

from shared import audit
from shared.audit import AuditEvent
from shared.clock import utc_now
from shared.graph.client import get_gateway
from shared.graph.contract import Gateway, GraphError, UserNotFoundError
from shared.guards import TargetPolicy, TargetProtectedError
from shared.keyring import Keyring
from shared.ledger import (
    LeaseLostError,
    LedgerRecord,
    ResetStatus,
    TamperedRowError,
    get_ledger,
)
from shared.models import CallbackEvent, CallbackState
from shared.reset.callback_messages import callback_message
from shared.reset.plan import PlanConflictError
from shared.reset.runner import new_owner, run_claimed
from shared.settings import Settings, SettingsError, get_settings
from shared.signing import WorkItem, mismatch
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION, QUEUE_NAME
from shared.triggers.delayed import send_later

if TYPE_CHECKING:
    from shared.ledger import Ledger
    from shared.notify.notifier import Notifier

log = logging.getLogger(__name__)
# How soon a work item waiting for the user's proof looks again.
PROOF_POLL = timedelta(seconds=20)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


class InvalidMessageError(Exception):
    """A queue message that is not a reset message; its content stays out of the error."""


@bp.queue_trigger(arg_name="msg", queue_name=QUEUE_NAME, connection=QUEUE_CONNECTION)
@bp.queue_output(arg_name="callbacks", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def process_reset(msg: func.QueueMessage, callbacks: func.Out[str]) -> None:
    """Run one accepted reset, exactly once however often its message is delivered."""
    item = _work_item(msg)
    keyring = _keyring(msg)
    settings = get_settings()
    ledger = await get_ledger()
    admitted = await ledger.get(item.reset_id)
    if admitted is None:
        log.error("queue message %s names unknown reset %s", msg.id, item.reset_id)
        return
    forged = forgery(item, admitted, keyring, utc_now())
    if forged:
        _refuse_work_item(msg, admitted, forged)
        return
    if admitted.status is ResetStatus.awaiting_verification:
        await _await_proof(msg, admitted, settings, callbacks)
        return
    if item.hold_until is not None and utc_now() < item.hold_until and not admitted.status.finished:
        # Early (a re-delivery, a re-drive): back on the queue until the hold ends.
        await send_later(
            settings,
            settings.reset_queue_name,
            [msg.get_body().decode()],
            item.hold_until - utc_now(),
        )
        log.info(
            "reset %s is held until %s; message %s put back",
            item.reset_id,
            item.hold_until.isoformat(),
            msg.id,
        )
        return
    # LeaseHeldError propagates: another worker is on it; the message comes back later and
    # then finds the reset finished, or the lease expired (that worker died) and takes over.
    try:
        record = await ledger.claim(item.reset_id, new_owner(), settings.lease_seconds)
    except KeyError:
        log.error("queue message %s names unknown reset %s", msg.id, item.reset_id)
        return
    except TamperedRowError as exc:
        _refuse_work_item(msg, admitted, str(exc))
        return
    if record.status.finished:
        log.info("reset %s already %s; message %s dropped", record.id, record.status, msg.id)
        return
    # The row as claimed is the one acted on: it must still say what the item signed.
    changed = mismatch(item, record)
    if changed:
        _refuse_work_item(msg, record, f"the ledger row's {changed} differs from the signed item")
        await ledger.release(record, record.outcome, f"refused: {changed} changed")
        return
    gateway = await get_gateway()
    try:
        await run_claimed(
            ledger,
            gateway,
            record,
            item.request,
            lease_seconds=settings.lease_seconds,
            retry_transient=True,
            policy=TargetPolicy.from_settings(settings),
            notifier=_notifier(gateway, ledger),
        )
    except (TargetProtectedError, UserNotFoundError, PlanConflictError, GraphError):
        pass  # recorded as failed in the ledger; another delivery would not change that
    except LeaseLostError:
        log.warning("reset %s was taken over by another worker; stopping", record.id)
        return
    # RetryLaterError propagates: Graph is unavailable, the queue delivers the message again.
    if item.request.callback_url is not None:
        from shared.reset.callbacks import arm_end_callback

        ended = await ledger.get(record.id)
        if ended is not None:
            ended = await arm_end_callback(ledger, ended)
        queue_callback(ended, callbacks)


def _work_item(msg: func.QueueMessage) -> WorkItem:
    try:
        return WorkItem.model_validate_json(msg.get_body())
    except ValidationError as exc:
        # Raising sends it, after the retries, to the poison queue where it can be inspected.
        # Not Pydantic's own error: its text repeats the input (a phone number) into the
        # host's exception log. Where it failed is enough to find the message.
        where = ", ".join(".".join(map(str, e["loc"])) or "(body)" for e in exc.errors())
        log.error("queue message %s is not a reset message (invalid: %s)", msg.id, where)
        raise InvalidMessageError(f"queue message {msg.id} is not a reset message") from None


def _keyring(msg: func.QueueMessage) -> Keyring:
    """The signing keys, or an error naming the setting (never its value). Raising leaves the
    message to come back: the setting may be fixed meanwhile (a Key Vault reference that did
    not resolve while the vault's role assignment propagated)."""
    try:
        return get_settings().keyring()
    except SettingsError as exc:
        log.error("queue message %s not processed: %s", msg.id, exc)
        raise


async def _await_proof(
    msg: func.QueueMessage, record: LedgerRecord, settings: Settings, callbacks: func.Out[str]
) -> None:
    """The user has not proven who they are yet: tell the caller the page's link (once), and
    put the work item back until the reset is released, or end it when the window closed."""
    from shared.reset.callbacks import arm_callback
    from shared.reset.verification import end_failed
    from shared.verify.links import PROOF_WINDOW

    if utc_now() - record.accepted_at > PROOF_WINDOW:
        message = await end_failed(record.id, "expired")
        if message is not None:
            callbacks.set(message)
        return
    ledger = await get_ledger()
    if record.callback is not None and not record.callback.event:
        message = await arm_callback(ledger, record, CallbackEvent.awaiting_verification)
        if message is not None:
            callbacks.set(message)
    await send_later(settings, settings.reset_queue_name, [msg.get_body().decode()], PROOF_POLL)


def _notifier(gateway: Gateway, ledger: Ledger) -> Notifier:
    """The user's notifications, loaded by the first reset a worker runs, not at start-up."""
    from shared.notify.notifier import Notifier

    return Notifier(gateway.mail, ledger, get_settings())


def queue_callback(record: LedgerRecord | None, callbacks: func.Out[str]) -> None:
    """Queue the callback of a reset that has ended, if it asked for one not yet delivered.

    The message names only the reset: where it goes and what it says come from the row.
    Written by the host when the function returns; if this instance dies first, the scheduled
    run finds the callback still pending and queues it.
    """
    if record is None or not record.status.finished or record.callback is None:
        return
    if record.callback.state is CallbackState.pending:
        callbacks.set(callback_message(get_settings().keyring(), record.id))


def forgery(item: WorkItem, record: LedgerRecord, keyring: Keyring, now: datetime) -> str | None:
    """Why this message is not a work item the app admitted, or None when it is.

    The item must carry the signature recorded on the row at admission, that signature must be
    the item's own under the app's key (the request, the resolved user, the admission time,
    the caller and the sweep), the row must still say what the item says, and the item must
    not have outlived a queue message: a message naming a pending reset with another user or
    phone number, a row pointed at another user, an old item put back, or a refused or
    never-admitted row is not run.
    """
    request = item.request
    if request.dry_run or request.mode != "async":
        return "a queued reset is never a dry run or synchronous"
    if request.temporary_access_pass and request.verification is None:
        # A pass goes only to whoever waits for it: here, the user who proved who they are.
        return "a queued reset issues a pass only to a verified user"
    if not record.signature:
        return "the reset was never signed"
    if not hmac.compare_digest(item.signature, record.signature):
        return "its signature is not the one recorded when the reset was admitted"
    if not item.genuine(keyring):
        return "it is not the work item the app admitted and signed"
    if item.expired(now):
        return (
            f"expired: admitted {item.admitted_at.isoformat()}, longer ago than a queued "
            "reset may wait"
        )
    changed = mismatch(item, record)
    if changed:
        return f"the ledger row's {changed} differs from the signed item"
    if record.status.finished:
        return None  # left to the claim, which drops a duplicate delivery without a word
    if not record.admitted:
        # The app queues a reset only once it is admitted (a refused one never).
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
        item = WorkItem.model_validate_json(msg.get_body())
    except ValidationError:
        log.error("unreadable message %s reached the poison queue; it is dropped", msg.id)
        return
    keyring = _keyring(msg)
    reset_id = item.reset_id
    ledger = await get_ledger()
    record = await ledger.get(reset_id)
    if record is not None:
        # An expired item still fails its reset: giving up is what the poison queue is for.
        forged = forgery(item, record, keyring, item.admitted_at)
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
