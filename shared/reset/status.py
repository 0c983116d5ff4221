"""Reading a reset back: what a status read shows of a ledger row, and nothing more.

The row keeps role and group names of a protected-target refusal for the audit; a status read
is open to every caller with the preview role, so it shows only the kind of path.
"""

from __future__ import annotations

import re
from typing import Any

from shared.guards.targets import public_refusal
from shared.ledger import LedgerRecord, get_ledger
from shared.models import CallerView

_RESET_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def find_reset(reset_id: str) -> LedgerRecord | None:
    """The reset with this id; None for an unknown id or one that is not a reset id at all."""
    reset_id = reset_id.lower()
    if not _RESET_ID.fullmatch(reset_id):
        return None
    return await (await get_ledger()).get(reset_id)


def status_view(record: LedgerRecord) -> dict[str, Any]:
    """A reset as a status read shows it: the outcome so far, under the ledger's status."""
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
    if record.caller is not None:
        body["caller"] = CallerView.model_validate(record.caller).model_dump(mode="json")
    if record.callback is not None:
        body["callback"] = record.callback.view().model_dump(mode="json")
    return body
