"""Reading a reset back: what a status read shows of a ledger row, and nothing more.

The row keeps role and group names of a protected-target refusal for the audit; a status read
is open to every caller with the preview role, so it shows only the kind of path.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.clock import utc_now
from shared.guards.targets import public_refusal
from shared.ledger import LedgerRecord, get_ledger
from shared.ledger.records import hold_view
from shared.models import CallerView, DisputeView, NotificationView, Recipient
from shared.settings import get_settings
from shared.verify import links

if TYPE_CHECKING:
    from shared.ledger.notices import Notices

_RESET_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def find_reset(reset_id: str) -> LedgerRecord | None:
    """The reset with this id; None for an unknown id or one that is not a reset id at all."""
    reset_id = reset_id.lower()
    if not _RESET_ID.fullmatch(reset_id):
        return None
    return await (await get_ledger()).get(reset_id)


def verification_link(reset_id: str) -> str | None:
    settings = get_settings()
    base = settings.links_base_url
    return links.page_url(base, settings.keyring(), reset_id) if base else None


def status_view(
    record: LedgerRecord, notices: Notices | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """A reset as a status read shows it: the outcome so far, under the ledger's status; a
    reset waiting out its hold is ``held`` until ``runs_at``; how the user was told and any
    dispute come from ``notices``."""
    if record.outcome is not None:
        body = record.outcome.to_record()
    else:
        body = {"id": record.id, "ticket_id": record.ticket_id, "user": None, "steps": []}
    body.update(
        status=str(record.status),
        attempts=record.attempts,
        accepted_at=record.accepted_at.isoformat(),
        # A re-driven reset keeps the time it first failed; it is not finished any more.
        finished_at=(
            record.finished_at.isoformat()
            if record.finished_at and record.status.finished
            else None
        ),
    )
    if record.last_error and not body.get("detail"):
        body["detail"] = public_refusal(record.last_error)
    runs_at = hold_view(record, now or utc_now())
    if runs_at is not None:
        body.update(status="held", runs_at=runs_at.isoformat())
    if notices is not None and notices.results:
        body["notifications"] = [
            NotificationView.model_validate(r).model_dump(mode="json") for r in notices.results
        ]
    if notices is not None and notices.disputed_at is not None:
        body["disputed"] = DisputeView(
            at=notices.disputed_at, recipient=Recipient(notices.disputed_by or "mailbox")
        ).model_dump(mode="json")
    if record.status == "awaiting-verification":
        # The caller passes this link to the user, who proves who they are there.
        body["verification"] = {"state": "awaiting", "link": verification_link(record.id)}
    if record.caller is not None:
        body["caller"] = CallerView.model_validate(record.caller).model_dump(mode="json")
    if record.callback is not None:
        body["callback"] = record.callback.view().model_dump(mode="json")
    return body
