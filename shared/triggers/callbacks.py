"""Completion callbacks, delivered at least once through their own queue.

A reset that ends with a callback pending puts ``{"reset_id": ...}`` on
``<RESET_QUEUE_NAME>-callbacks``. This worker reads where the callback goes and what it says
from the ledger row (a message anyone could write carries neither), makes one signed attempt,
and records it. A failed attempt raises, so the queue delivers the message again after its
visibility timeout, with the same ``webhook-id``; after ``maxDequeueCount`` deliveries the
message goes to the poison queue, where the callback is marked ``failed`` with an error-level
audit event. The reset's own result never depends on its callback.
"""

from __future__ import annotations

import logging

import azure.functions as func
from pydantic import BaseModel, ConfigDict, ValidationError

from shared import audit
from shared.audit import AuditEvent
from shared.ledger import LedgerRecord, get_ledger
from shared.models import CallbackState
from shared.reset.callbacks import CallbackNotAllowedError, callback_event, describe, sender
from shared.settings import get_settings
from shared.triggers import CALLBACK_QUEUE_NAME, QUEUE_CONNECTION

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


class CallbackMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reset_id: str


class CallbackNotDeliveredError(Exception):
    """This attempt failed; the queue tries again. Its text names the host, not the URL."""


def _message(msg: func.QueueMessage) -> CallbackMessage | None:
    try:
        return CallbackMessage.model_validate_json(msg.get_body())
    except ValidationError:
        log.error("queue message %s is not a callback message; it is dropped", msg.id)
        return None


def _due(record: LedgerRecord | None) -> bool:
    return (
        record is not None
        and record.status.finished
        and record.callback is not None
        and record.callback.state is CallbackState.pending
        and record.callback.url is not None
    )


@bp.queue_trigger(arg_name="msg", queue_name=CALLBACK_QUEUE_NAME, connection=QUEUE_CONNECTION)
async def deliver_callback(msg: func.QueueMessage) -> None:
    """One attempt to tell the ticket how its reset ended."""
    message = _message(msg)
    if message is None:
        return
    ledger = await get_ledger()
    record = await ledger.get(message.reset_id)
    if not _due(record):
        # Delivered already (a duplicate message), given up, or not a reset that has ended.
        log.info("callback message %s for reset %s: nothing to deliver", msg.id, message.reset_id)
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
    """Every attempt failed: record the callback ``failed`` and say so loudly."""
    message = _message(msg)
    if message is None:
        return
    ledger = await get_ledger()
    record = await ledger.callback_gave_up(message.reset_id)
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
