"""What scheduled runs need from the ledger: re-drive, sweep bookkeeping, retention, summaries.

Every write here is conditional on the row as it was read, so two runs overlapping (a slow
run and the next one) never re-queue, give up on or delete the same reset twice.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode

from shared.ledger.records import (
    KIND_PAGE,
    KIND_RUN,
    LIMITS_PARTITION,
    NOTICES_PARTITION,
    PAGES_PARTITION,
    PARTITION,
    RUN_PARTITION,
    LeaseLostError,
    LedgerRecord,
    ResetStatus,
    outcome_json,
)
from shared.ledger.store import LedgerStore
from shared.models import Outcome


def _stopped(record: LedgerRecord, cutoff: datetime) -> bool:
    """Whether a pending or retryably failed reset has stopped moving since ``cutoff``."""
    if record.redriven_at is not None and record.redriven_at >= cutoff:
        return False  # re-driven a moment ago: its message is on the way
    if record.status is ResetStatus.failed:
        return True
    if record.status is ResetStatus.accepted:
        return record.accepted_at < cutoff
    return (
        record.status is ResetStatus.running
        and record.lease_expires_at is not None
        and record.lease_expires_at < cutoff
    )


class Maintenance(LedgerStore):
    """Reads and conditional writes for the scheduled run."""

    async def redrive_candidates(self, stale_after: timedelta) -> list[LedgerRecord]:
        """Resets that stopped moving: accepted but never started, running under a lease that
        expired, each for longer than ``stale_after``; or failed with a retryable error.

        ``stale_after`` leaves alone a reset whose message is merely waiting in the queue, was
        released a moment ago for the queue's own retry, or was re-driven a moment ago.
        """
        cutoff = self._clock() - stale_after
        rows = await self._resets(
            "Status eq 'accepted' or Status eq 'running' or "
            "(Status eq 'failed' and Retryable eq true)"
        )
        return sorted(
            (r for r in rows if _stopped(r, cutoff)),
            key=lambda r: (r.accepted_at, r.id),
        )

    async def overdue_proofs(self, admitted_before: datetime) -> list[LedgerRecord]:
        """Resets still waiting for the user's proof, admitted before ``admitted_before``: the
        proof window is over (their work item may have been lost, so nothing else ends them)."""
        rows = await self._resets("Status eq 'awaiting-verification'")
        return [r for r in rows if r.accepted_at < admitted_before]

    async def mark_redriven(self, record: LedgerRecord) -> bool:
        """Count one more re-drive and, for a failed reset, make it ``accepted`` again.

        Conditional on the row being as it was read, so of two runs looking at it at once only
        one re-queues it. False: someone else changed it first.
        """
        properties: dict[str, Any] = {
            "Redrives": record.redrives + 1,
            "RedrivenAt": self._clock(),
        }
        if record.status is ResetStatus.failed:
            properties.update(Status=str(ResetStatus.accepted), Retryable=False)
        if not await self._merge_sealed(record, properties):
            return False
        record.redrives += 1
        record.redriven_at = properties["RedrivenAt"]
        if record.status is ResetStatus.failed:
            record.status, record.retryable = ResetStatus.accepted, False
        return True

    async def give_up(self, record: LedgerRecord, error: str) -> bool:
        """Leave a reset ``failed`` for good (not retryable); False if it changed meanwhile."""
        try:
            await self.finish(record, ResetStatus.failed, record.outcome, error)
        except LeaseLostError:
            return False
        return True

    async def sweep_outstanding(self, group_id: str, since: datetime) -> set[str]:
        """Users (object ids) a sweep of this group must not request again yet: their sweep
        reset is pending, may still be re-driven, or succeeded since ``since`` or without its
        group removal done (the group listing may lag, or the removal keeps failing)."""
        rows = await self._resets(
            "SweepGroupId eq @group and (Status eq 'accepted' or Status eq 'running' "
            "or Status eq 'succeeded' or (Status eq 'failed' and Retryable eq true))",
            group=group_id,
        )
        return {
            (r.user_id or r.target).lower()
            for r in rows
            if r.status is not ResetStatus.succeeded
            or r.group_removal != "done"
            or (r.finished_at is not None and r.finished_at >= since)
        }

    async def pending_group_removals(self, group_id: str) -> list[LedgerRecord]:
        """Succeeded sweep resets whose user could not be removed from the group."""
        return await self._resets(
            "Status eq 'succeeded' and SweepGroupId eq @group and GroupRemoval eq 'failed'",
            group=group_id,
        )

    async def set_group_removal(
        self, record: LedgerRecord, state: str, outcome: Outcome | None = None
    ) -> bool:
        """Record a later removal from the sweep's group (and the outcome with its step)."""
        entity: dict[str, Any] = {"GroupRemoval": state}
        if outcome is not None:
            entity["Outcome"] = outcome_json(outcome)
        if not await self._merge_sealed(record, entity):
            return False
        record.group_removal = state
        return True

    async def begin_page(self, digest: str) -> bool:
        """Start admitting a sweep page, unless a page with this digest was admitted already
        (a copy put back on the queue); a page that failed part-way may be admitted again."""
        entity = {
            "PartitionKey": PAGES_PARTITION,
            "RowKey": digest,
            "Kind": KIND_PAGE,
            "State": "admitting",
            "RecordedAt": self._clock(),
        }
        try:
            await self._table.create_entity(entity)
        except ResourceExistsError:
            row = await self._table.get_entity(PAGES_PARTITION, digest)
            return row.get("State") != "done"
        return True

    async def end_page(self, digest: str) -> None:
        """The page's members are admitted: a copy of it admits nobody."""
        await self._table.update_entity(
            {"PartitionKey": PAGES_PARTITION, "RowKey": digest, "State": "done"},
            mode=UpdateMode.MERGE,
        )

    async def purge(self, older_than: datetime) -> int:
        """Delete rows accepted before ``older_than``: finished resets, their idempotency
        entries and run summaries. A reset still pending is kept whatever its age."""
        deleted = 0
        for partition, column in (
            (PARTITION, "AcceptedAt"),
            (RUN_PARTITION, "RecordedAt"),
            (LIMITS_PARTITION, "LastAt"),  # a user's limiter unused for the retention period
            (PAGES_PARTITION, "RecordedAt"),  # sweep pages admitted: expired long before
            (NOTICES_PARTITION, "RecordedAt"),  # notification links and results
        ):
            rows = [
                row
                async for row in self._table.query_entities(
                    f"PartitionKey eq @pk and {column} lt @cutoff",
                    parameters={"pk": partition, "cutoff": older_than},
                    select=["RowKey", "Status", "ResetId"],
                )
            ]
            pending = {
                row["RowKey"]
                for row in rows
                if row.get("Status") and not ResetStatus(row["Status"]).finished
            }
            # Idempotency entries before their resets: an entry never outlives its reset.
            for row in sorted(rows, key=lambda r: r.get("Status") is not None):
                if row["RowKey"] in pending or row.get("ResetId") in pending:
                    continue  # a pending reset keeps its row and its idempotency entry
                # Only as read: a row another run re-drove meanwhile is not pending any more.
                with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                    await self._table.delete_entity(
                        partition,
                        row["RowKey"],
                        etag=row.metadata.get("etag"),
                        match_condition=MatchConditions.IfNotModified,
                    )
                    deleted += 1
        return deleted

    async def record_run(self, summary: Mapping[str, Any]) -> str:
        """Store a scheduled run's summary; rows sort newest first by key."""
        now = self._clock()
        newest_first = 10**16 - int(now.timestamp() * 1_000_000)
        key = f"{newest_first:017d}-{uuid.uuid4().hex[:8]}"
        await self._table.create_entity(
            {
                "PartitionKey": RUN_PARTITION,
                "RowKey": key,
                "Kind": KIND_RUN,
                "RecordedAt": now,
                **{
                    k: v if isinstance(v, str | int | bool) else json.dumps(v)
                    for k, v in summary.items()
                },
            }
        )
        return key
