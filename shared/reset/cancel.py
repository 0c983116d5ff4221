"""Stopping a reset: its caller cancels it while it waits, or a notified user says "this wasn't
me" (before it ran: it is cancelled; after: it is disputed).

A cancel and the worker's claim are both conditional writes on the reset's row, so exactly one
wins: a reset is either cancelled and never touches Graph, or it runs and can only be disputed.
Nothing is undone automatically after a dispute: deleting what the reset registered could lock
out the real user as easily as the attacker; the security team decides (README).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from shared import audit
from shared.audit import AuditEvent
from shared.graph.client import get_gateway
from shared.guards import Caller
from shared.ledger import LedgerRecord, get_ledger
from shared.models import CallbackEvent, CallbackState
from shared.notify.notifier import Notifier
from shared.reset.callback_messages import callback_message
from shared.settings import get_settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stopped:
    """What stopping did: the row as it now is, whether it was cancelled or disputed by this
    call, and the callback message to queue (signed), if one is due."""

    record: LedgerRecord | None
    cancelled: bool = False
    disputed: bool = False
    callback: str | None = None


async def cancel(reset_id: str, caller: Caller) -> Stopped:
    """The caller's cancel (``DELETE /api/resets/{id}``)."""
    return await _cancel(
        reset_id,
        f"cancelled by the caller ({caller.name or caller.app_id or caller.authenticated_by})",
        caller=caller,
    )


async def stop_by_user(reset_id: str, recipient: str) -> Stopped:
    """A notified recipient's "this wasn't me": cancelled while it waits, disputed after."""
    stopped = await _cancel(reset_id, f"stopped by the user notified ({recipient}): this wasn't me")
    if stopped.cancelled or stopped.record is None:
        return stopped
    ledger = await get_ledger()
    if not await ledger.notices.dispute(reset_id, recipient):
        return Stopped(stopped.record)  # disputed before: said once
    record = stopped.record
    audit.emit_record(
        AuditEvent.disputed,
        record,
        detail=f"disputed: the user notified ({recipient}) says this wasn't them; "
        "the reset was not undone",
        level=logging.ERROR,
    )
    message = None
    if await ledger.callback_again(reset_id, str(CallbackEvent.disputed)):
        message = callback_message(get_settings().keyring(), reset_id)
    return Stopped(record, disputed=True, callback=message)


async def _cancel(reset_id: str, reason: str, *, caller: Caller | None = None) -> Stopped:
    ledger = await get_ledger()
    record, cancelled = await ledger.cancel(reset_id, reason)
    if record is None or not cancelled:
        return Stopped(record)
    audit.emit_record(
        AuditEvent.cancelled,
        record,
        detail=reason,
        caller=caller.to_audit() if caller else None,
    )
    settings = get_settings()
    gateway = await get_gateway()
    await Notifier(gateway.mail, ledger, settings).finished(record, None)
    message = None
    if record.callback is not None and record.callback.state is CallbackState.pending:
        message = callback_message(settings.keyring(), reset_id)
    return Stopped(record, cancelled=True, callback=message)
