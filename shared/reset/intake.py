"""The one way a reset enters the ledger, whether a webhook or a group sweep asked for it.

Both must meet the same limits and leave the same trace, so neither can become a way around
the other's guardrails.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from shared import audit
from shared.audit import AuditEvent
from shared.graph.contract import DirectoryUser
from shared.guards import Caller
from shared.ledger import LedgerRecord, LimitReachedError, Limits
from shared.models import ResetRequest
from shared.notify.links import LINK_LIFETIME
from shared.settings import Settings
from shared.signing import WORK_ITEM_LIFETIME, WorkItem, WorkItemCaller, admission_time

if TYPE_CHECKING:
    from shared.ledger import Ledger


async def accept_reset(
    ledger: Ledger,
    request: ResetRequest,
    reset_id: str,
    *,
    caller: Caller,
    settings: Settings,
    idempotency_key: str | None = None,
    claim_for: str | None = None,
    sweep_group_id: str | None = None,
    user: DirectoryUser,
    hour_reserved: bool = False,
    awaiting_verification: bool = False,
) -> tuple[LedgerRecord, bool]:
    """Record the request under the blast-radius limits; returns the row and whether it is new.

    Past a limit no row is kept, an error-level audit event is written (an
    alert should fire: many resets at once is what an attack looks like) and
    ``LimitReachedError`` is raised. ``user`` is the target as Graph resolved it: the
    per-user limit then counts it by object id, however each request names it, and the worker
    acts on that object id, signed with the rest of the work item (``shared.signing``).
    ``hour_reserved``: the tenant's hourly count was reserved for it (a sweep's page).
    """
    accepted_at = admission_time(ledger.now())
    hold_until = (
        accepted_at + timedelta(minutes=settings.reset_hold_minutes)
        if settings.reset_hold_minutes
        and request.mode == "async"
        and request.temporary_access_pass is None
        else None
    )
    item = WorkItem(
        reset_id=reset_id,
        request=request,
        user_id=user.id.lower(),
        admitted_at=accepted_at,
        caller=WorkItemCaller.model_validate(caller.to_audit()),
        sweep_group_id=sweep_group_id,
        hold_until=hold_until,
    )
    signature = item.signed(settings.keyring()).signature
    try:
        return await ledger.accept(
            request,
            reset_id,
            idempotency_key=idempotency_key,
            claim_for=claim_for,
            lease_seconds=settings.lease_seconds,
            caller=caller.to_audit(),
            limits=Limits(
                settings.resets_per_hour, settings.resets_per_user_per_day, hour_reserved
            ),
            sweep_group_id=sweep_group_id,
            signature=signature,
            user=(user.id, user.user_principal_name),
            accepted_at=accepted_at,
            hold_until=hold_until,
            # A dispute after the end sends one more callback: keep its URL until then.
            keep_callback_until=(
                accepted_at + WORK_ITEM_LIFETIME + LINK_LIFETIME
                if (settings.notify_sender or awaiting_verification) and request.callback_url
                else None
            ),
            awaiting_verification=awaiting_verification,
        )
    except LimitReachedError as exc:
        audit.emit_record(AuditEvent.refused, exc.record, level=logging.ERROR)
        raise
