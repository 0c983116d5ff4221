"""Proof before reset, as the ledger records it: one row per reset that must be proven.

Verified ID tells its results only through callbacks, and Microsoft's audit log does not record
presentations, so this row is the only record of a verification: the presentation requests the
app created (each with a keyed digest of the per-request ``api-key`` the callback must bring),
the attempts, the outcome (issuer, credential type, which claims were compared, Face Check's
score, the request id; never a photo or any other claim value), the rule that failed, and when
the pass was shown. Every change is ETag-conditional on the row as read, so duplicated, late or
concurrent callbacks decide once.

Kept beside the reset's row, never on it: a write here must not move the reset's ETag under a
worker that owns it. Given to the ledger as ``Ledger.verifications``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.clock import Clock

PARTITION = "verification"
KIND = "verification"


@dataclass
class Verification:
    """A reset's proof so far."""

    reset_id: str
    state: str = "awaiting"  # awaiting, retrieved, verified, failed
    # requestId -> {"api_key": keyed digest, "expiry": unix seconds, "decided": bool}
    requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempts: int = 0  # presentations that failed or expired
    rule: str | None = None  # the rule the last failure broke
    outcome: dict[str, Any] = field(default_factory=dict)  # issuer, type, claims, score, request
    pass_shown_at: datetime | None = None
    etag: str | None = None

    @classmethod
    def from_entity(cls, entity: Any) -> Verification:
        return cls(
            reset_id=str(entity["ResetId"]),
            state=str(entity.get("State") or "awaiting"),
            requests=json.loads(entity.get("Requests") or "{}"),
            attempts=int(entity.get("Attempts") or 0),
            rule=entity.get("Rule") or None,
            outcome=json.loads(entity.get("Outcome") or "{}"),
            pass_shown_at=entity.get("PassShownAt"),
            etag=entity.metadata.get("etag"),
        )

    def columns(self) -> dict[str, Any]:
        return {
            "State": self.state,
            "Requests": json.dumps(self.requests),
            "Attempts": self.attempts,
            "Rule": self.rule or "",
            "Outcome": json.dumps(self.outcome),
        }

    def live_request(self, now: float) -> str | None:
        """A request not decided and not expired (a page opened twice shows the same one)."""
        for request_id, request in self.requests.items():
            if not request.get("decided") and float(request["expiry"]) > now:
                return request_id
        return None


# What a change makes of the verification; None leaves the row as it is.
Change = Callable[[Verification], Verification | None]


class VerificationBook:
    def __init__(self, table: TableClient, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    async def get(self, reset_id: str) -> Verification | None:
        try:
            return Verification.from_entity(await self._table.get_entity(PARTITION, reset_id))
        except ResourceNotFoundError:
            return None

    async def change(self, reset_id: str, change: Change) -> Verification | None:
        """Apply ``change`` to the reset's verification (created on first use), again on the
        fresh row if another write came first; the verification as written, or as it was
        when ``change`` left it alone."""
        for _ in range(8):
            current = await self.get(reset_id)
            changed = change(current or Verification(reset_id))
            if changed is None:
                return current
            row = {"PartitionKey": PARTITION, "RowKey": reset_id, **changed.columns()}
            try:
                if current is None:
                    row.update(Kind=KIND, ResetId=reset_id, RecordedAt=self._clock())
                    await self._table.create_entity(row)
                else:
                    await self._table.update_entity(
                        row,
                        mode=UpdateMode.MERGE,
                        etag=current.etag,
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                continue
            return changed
        raise ResourceModifiedError(f"reset {reset_id}: its verification kept changing")

    async def mark_pass_shown(self, verification: Verification) -> bool:
        """Claim the one showing of the pass; False when it was shown (or claimed) already."""
        if verification.pass_shown_at is not None:
            return False
        try:
            await self._table.update_entity(
                {
                    "PartitionKey": PARTITION,
                    "RowKey": verification.reset_id,
                    "PassShownAt": self._clock(),
                },
                mode=UpdateMode.MERGE,
                etag=verification.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True


def unix(moment: datetime) -> float:
    return moment.timestamp()
