"""Completion callbacks, delivered at least once through their own queue.

A reset that ends with a callback pending puts a message naming it on
``<RESET_QUEUE_NAME>-callbacks``, signed by the app (``shared.reset.callback_messages``): both
workers here act only on a message the app signed, so one written by anyone else neither sends
nor fails a callback. This worker reads where the callback goes and what it says from the ledger
row (no message carries either), makes one signed attempt, and records it. A failed attempt
raises, so the queue delivers the message again after its visibility timeout, with the same
``webhook-id``; after ``maxDequeueCount`` deliveries the message goes to the poison queue, where
the callback is marked ``failed`` with an error-level audit event. The reset's own result never
depends on its callback.
"""

from __future__ import annotations

import logging

import azure.functions as func

from shared import audit
from shared.audit import AuditEvent
from shared.ledger import LedgerRecord, get_ledger
from shared.models import CallbackState
from shared.reset.callback_messages import signed_reset_id
from shared.reset.callbacks import CallbackNotAllowedError, callback_event, describe, sender
from shared.settings import get_settings
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


class CallbackNotDeliveredError(Exception):
    """This attempt failed; the queue tries again. Its text names the host, not the URL."""


def _reset_id(msg: func.QueueMessage) -> str | None:
    """The reset a message the app signed names; None (an error logged, nothing changed) for
    any other message. A pending callback is queued again, signed, by the scheduled run."""
    reset_id = signed_reset_id(get_settings().keyring(), msg.get_body())
    if reset_id is None:
        log.error(
            "queue message %s is not a callback message signed by this app; it is dropped", msg.id
        )
    return reset_id


def _due(record: LedgerRecord | None) -> bool:
    """A pending callback: of a reset that ended, or armed for an event before the end (a
    reset awaiting proof gives its caller the user's link)."""
    return (
        record is not None
        and record.callback is not None
        and (record.status.finished or bool(record.callback.event))
        and record.callback.state is CallbackState.pending
        and record.callback.url is not None
    )


@bp.queue_trigger(arg_name="msg", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def deliver_callback(msg: func.QueueMessage) -> None:
    """One attempt to tell the ticket how its reset ended."""
    reset_id = _reset_id(msg)
    if reset_id is None:
        return
    ledger = await get_ledger()
    record = await ledger.get(reset_id)
    if not _due(record):
        # Delivered already (a duplicate message), given up, or not a reset that has ended.
        log.info("callback message %s for reset %s: nothing to deliver", msg.id, reset_id)
        return
    assert record is not None
    event = callback_event(record)
    if event is None:
        return
    try:
        attempt = await sender.send(record, event, get_settings())
    except CallbackNotAllowedError as exc:
        # The settings changed since admission: the host is no longer allowed, or the secret
        # is gone. Nothing is sent; the callback has failed for good.
        failed = await ledger.callback_gave_up(record.id)
        audit.emit_record(
            AuditEvent.callback_failed,
            failed or record,
            detail=f"{exc.kind}: callback to {record.callback and record.callback.host} not sent",
        )
        return
    state = CallbackState.delivered if attempt.delivered else CallbackState.pending
    written = await ledger.callback_attempted(record.id, attempt.status, state)
    if attempt.delivered:
        audit.emit_record(
            AuditEvent.callback_delivered, written or record, detail=describe(record, attempt)
        )
        return
    log.warning("reset %s: %s; the queue will try again", record.id, describe(record, attempt))
    raise CallbackNotDeliveredError(describe(record, attempt))


@bp.queue_trigger(
    arg_name="msg", queue_name=f"{CALLBACK_QUEUE_NAME}-poison", connection=QUEUE_CONNECTION
)
async def callback_poisoned(msg: func.QueueMessage) -> None:
    """Every attempt failed: record the callback ``failed`` and say so loudly.

    Only a message the app signed may fail a callback: one anyone else wrote changes nothing.
    """
    reset_id = _reset_id(msg)
    if reset_id is None:
        return
    ledger = await get_ledger()
    record = await ledger.callback_gave_up(reset_id)
    if record is None or record.callback is None:
        return
    if record.callback.state is CallbackState.failed:
        last = record.callback.last_status
        audit.emit_record(
            AuditEvent.callback_failed,
            record,
            detail=f"callback to {record.callback.host} failed after "
            f"{record.callback.attempts} attempts (last: {last or 'no answer'})",
        )
