"""Table access and the life of one reset after admission: claim, lease, checkpoint, finish.

Exactly-once execution rests on optimistic concurrency. A worker *claims* a row with an
ETag-conditional update that sets it ``running`` under a lease; of several workers given the same
message, one update succeeds and the others see a live lease held by someone else. Every later
write of the owner (checkpoints, the final outcome) is conditional on the ETag of its previous
write, so a worker that lost its lease (it stalled past the lease and another worker took over)
finds out at its next write and stops. A crashed worker's lease simply expires.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.clock import Clock, utc_now
from shared.ledger.records import (
    INDEX_PREFIX,
    KIND_RESET,
    PARTITION,
    LeaseHeldError,
    LeaseLostError,
    LedgerRecord,
    ResetStatus,
    TamperedRowError,
    outcome_json,
    request_ids,
    resolved_user,
)
from shared.ledger.seal import RowSeal, sealed_state
from shared.models import Outcome


class LedgerStore:
    """The table and the clock, and the conditional writes every other part builds on."""

    def __init__(
        self, table: TableClient, clock: Clock = utc_now, seal: RowSeal | None = None
    ) -> None:
        self._table = table
        self._clock = clock
        self._seal = seal or RowSeal()

    def now(self) -> datetime:
        """The ledger's clock: admission times are taken from it."""
        return self._clock()

    def genuine(self, record: LedgerRecord) -> bool:
        """Whether the row's sealed state is one this app wrote (``shared.ledger.seal``)."""
        return self._seal.genuine(record.id, record.state, record.state_mac)

    def _sealed(self, record_id: str, state: dict[str, Any]) -> str:
        return self._seal.state_mac(record_id, state)

    async def ensure_table(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._table.create_table()

    async def close(self) -> None:
        await self._table.close()

    async def get(self, reset_id: str) -> LedgerRecord | None:
        if reset_id.startswith(INDEX_PREFIX):
            return None
        try:
            entity = await self._table.get_entity(PARTITION, reset_id)
        except ResourceNotFoundError:
            return None
        return LedgerRecord.from_entity(entity)

    async def _resets(self, query: str, **parameters: Any) -> list[LedgerRecord]:
        rows = self._table.query_entities(
            f"PartitionKey eq @pk and Kind eq @kind and ({query})",
            parameters={"pk": PARTITION, "kind": KIND_RESET, **parameters},
        )
        return [LedgerRecord.from_entity(row) async for row in rows]

    async def claim(self, reset_id: str, owner: str, lease_seconds: int) -> LedgerRecord:
        """Make ``owner`` the one worker running this reset, or say why not.

        Returns the claimed row (status ``running``, etag of the claim), or a finished row
        untouched. Raises ``LeaseHeldError`` while another worker's lease is live, and
        ``TamperedRowError`` for a row whose state the app did not write (nothing acts on it).
        """
        while True:
            record = await self.get(reset_id)
            if record is None:
                raise KeyError(reset_id)
            now = self._clock()
            if record.status.finished:
                return record
            if not self.genuine(record):
                raise TamperedRowError(reset_id)
            if record.lease_live(now) and record.lease_owner != owner:
                assert record.lease_expires_at is not None
                raise LeaseHeldError(reset_id, record.lease_expires_at)
            update: dict[str, Any] = {
                "Status": str(ResetStatus.running),
                "LeaseOwner": owner,
                "LeaseExpiresAt": now + timedelta(seconds=lease_seconds),
                "Attempts": record.attempts + 1,
                "StartedAt": record.started_at or now,
            }
            if not await self._merge_sealed(record, update):
                continue  # someone else wrote first: look again
            record.status = ResetStatus.running
            record.lease_owner = owner
            record.lease_expires_at = update["LeaseExpiresAt"]
            record.attempts += 1
            record.started_at = update["StartedAt"]
            return record

    async def _merge_if_unchanged(self, entity: dict[str, Any], etag: str | None) -> str | None:
        """Merge ``entity`` only if the row still has ``etag``; the new etag, or None if not."""
        try:
            meta = await self._table.update_entity(
                entity,
                mode=UpdateMode.MERGE,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            return None
        return str(meta.get("etag"))

    async def _merge_sealed(self, record: LedgerRecord, properties: dict[str, Any]) -> bool:
        """Merge ``properties`` into the row if it is still as read, with the seal of the state
        they leave it in; False when someone else wrote first. Every write of a sealed column
        goes through here, so the app's own writes always carry a seal that verifies."""
        state = {**record.state, **sealed_state(properties, partial=True)}
        mac = self._sealed(record.id, state)
        entity = {
            "PartitionKey": PARTITION,
            "RowKey": record.id,
            **properties,
            "StateMac": mac,
        }
        etag = await self._merge_if_unchanged(entity, record.etag)
        if etag is None:
            return False
        record.etag, record.state, record.state_mac = etag, state, mac
        return True

    async def _owned_write(self, record: LedgerRecord, properties: dict[str, Any]) -> None:
        if not await self._merge_sealed(record, properties):
            raise LeaseLostError(f"reset {record.id} was taken over by another worker")

    async def checkpoint(self, record: LedgerRecord, outcome: Outcome, lease_seconds: int) -> None:
        """Record progress after a step and extend the lease."""
        expires = self._clock() + timedelta(seconds=lease_seconds)
        await self._owned_write(
            record,
            {
                **resolved_user(outcome),
                "Outcome": outcome_json(outcome),
                "LeaseExpiresAt": expires,
            },
        )
        record.outcome, record.user_id, record.lease_expires_at = outcome, outcome.user.id, expires

    async def release(self, record: LedgerRecord, outcome: Outcome | None, error: str) -> None:
        """Give the reset back for a later attempt (Graph unavailable): lease ends now."""
        properties: dict[str, Any] = {"LeaseExpiresAt": self._clock(), "LastError": error[:2000]}
        if outcome is not None:
            properties.update(resolved_user(outcome), Outcome=outcome_json(outcome))
        await self._owned_write(record, properties)
        record.last_error = error

    async def finish(
        self,
        record: LedgerRecord,
        status: ResetStatus,
        outcome: Outcome | None,
        error: str | None = None,
        *,
        retryable: bool = False,
        group_removal: str | None = None,
    ) -> None:
        """Record the end. ``retryable``: a scheduled run may re-drive it (Graph was
        unavailable); ``group_removal``: how leaving the sweep's group went."""
        assert status.finished
        now = self._clock()
        # The lease columns stay as they were: a finished row is never claimed again.
        properties: dict[str, Any] = {
            "Status": str(status),
            "FinishedAt": now,
            "Retryable": retryable,
        }
        if group_removal is not None:
            properties["GroupRemoval"] = group_removal
        if outcome is not None:
            properties.update(
                resolved_user(outcome),
                Outcome=outcome_json(outcome),
                GraphRequestIds=request_ids(outcome),
            )
        if error is not None:
            properties["LastError"] = error[:2000]
        await self._owned_write(record, properties)
        record.status, record.finished_at, record.outcome = status, now, outcome
        record.retryable = retryable
        if group_removal is not None:
            record.group_removal = group_removal
        if error is not None:
            record.last_error = error[:2000]

    async def cancel(self, reset_id: str, reason: str) -> tuple[LedgerRecord | None, bool]:
        """Stop a reset that has not started: ``cancelled``, never run. Conditional on the row
        as read, so a worker claiming it at the same moment and this cancel cannot both win.
        Returns the row as it now is (cancelled, or as it was when it could not be; None for
        an unknown reset) and whether this call cancelled it."""
        while True:
            record = await self.get(reset_id)
            waiting = (ResetStatus.accepted, ResetStatus.awaiting_verification)
            if record is None or record.status not in waiting:
                return record, False
            if not self.genuine(record):
                raise TamperedRowError(reset_id)
            now = self._clock()
            changes = {"Status": str(ResetStatus.cancelled), "FinishedAt": now, "LastError": reason}
            if await self._merge_sealed(record, changes):
                record.status, record.finished_at, record.last_error = (
                    ResetStatus.cancelled,
                    now,
                    reason,
                )
                return record, True

    async def settle_verification(
        self, reset_id: str, verified: bool, reason: str | None = None
    ) -> LedgerRecord | None:
        """End a reset's wait for proof: ``accepted`` (its work item may run) or ``failed``
        for good. Only from ``awaiting-verification``, conditionally: a cancel or another
        callback deciding first wins. The row as it now is."""
        while True:
            record = await self.get(reset_id)
            if record is None or record.status is not ResetStatus.awaiting_verification:
                return record
            if not self.genuine(record):
                raise TamperedRowError(reset_id)
            now = self._clock()
            changes: dict[str, Any] = (
                {"Status": str(ResetStatus.accepted)}
                if verified
                else {"Status": str(ResetStatus.failed), "FinishedAt": now, "LastError": reason}
            )
            if await self._merge_sealed(record, changes):
                record.status = ResetStatus(changes["Status"])
                if not verified:
                    record.finished_at, record.last_error = now, reason
                return record

    async def fail_abandoned(self, reset_id: str, error: str) -> LedgerRecord | None:
        """Mark a reset failed when its message was given up (poison), unless it is finished or
        a worker still holds a live lease on it (that worker will finish it)."""
        while True:
            record = await self.get(reset_id)
            if record is None or record.status.finished or record.lease_live(self._clock()):
                return record
            try:
                # Given up by the queue, not by Graph's verdict: a scheduled run may try again.
                await self.finish(record, ResetStatus.failed, record.outcome, error, retryable=True)
            except LeaseLostError:
                continue
            return record
