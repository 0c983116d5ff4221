"""The blast-radius limits: the tenant's hourly cap, the per-user cooldown, per-caller counters.

Counted in the ledger itself, so every instance of the app sees the same count; a request is
counted after its own row is written, so two instances admitting at once can never both slip
past a limit.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
from collections.abc import Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)

from shared.ledger.records import (
    DAY,
    HOUR,
    KIND_COUNTER,
    KIND_RESET,
    PARTITION,
    LeaseLostError,
    LedgerRecord,
    LimitReachedError,
    Limits,
    ResetStatus,
)
from shared.ledger.store import LedgerStore


class LimitCounting(LedgerStore):
    """Counting against the limits, for admission and for dry runs."""

    async def _enforce(self, record: LedgerRecord, limits: Limits, index_key: str) -> None:
        """Refuse ``record`` if it passes a limit, counting every reset in the window that is
        not refused, its own row included.

        Every row present is counted, whichever was accepted first: two instances accepting at
        the same moment each see the other's row (each wrote its own before counting), so they
        may both refuse, but they can never both go through past the limit.
        """
        rows: list[Mapping[str, Any]] = [
            row
            async for row in self._table.query_entities(
                "PartitionKey eq @pk and Kind eq @kind and AcceptedAt ge @since "
                "and Status ne @refused",
                parameters={
                    "pk": PARTITION,
                    "kind": KIND_RESET,
                    "since": record.accepted_at - DAY,
                    "refused": str(ResetStatus.refused),
                },
                select=["RowKey", "AcceptedAt", "TargetKey", "UserId", "TargetUpn"],
            )
        ]
        if record.id not in {row["RowKey"] for row in rows}:
            rows.append(
                {
                    "RowKey": record.id,
                    "AcceptedAt": record.accepted_at,
                    "TargetKey": record.target.lower(),
                    "UserId": record.user_id,
                }
            )
        counted = sorted((row["AcceptedAt"], row["RowKey"], row) for row in rows)
        in_hour = [c for c in counted if c[0] > record.accepted_at - HOUR]
        keys = {record.target.lower(), *((record.user_id.lower(),) if record.user_id else ())}
        same_user = [
            c
            for c in counted
            if keys & {c[2].get("TargetKey"), c[2].get("UserId"), c[2].get("TargetUpn")}
        ]
        if len(in_hour) > limits.per_hour:
            limit, window, cap, window_rows = "tenant-hourly-cap", HOUR, limits.per_hour, in_hour
            detail = f"{limits.per_hour} resets per rolling hour reached for the tenant"
        elif len(same_user) > limits.per_user_per_day:
            limit, window, cap, window_rows = (
                "user-cooldown",
                DAY,
                limits.per_user_per_day,
                same_user,
            )
            detail = f"{limits.per_user_per_day} resets of this user per 24 hours reached"
        else:
            return
        # The request fits once enough of the others have left the window.
        frees_at = window_rows[len(window_rows) - cap - 1][0] + window
        retry_after = max(1, math.ceil((frees_at - self._clock()).total_seconds()))
        # No row is kept for a refusal: a flood of over-limit requests must not fill the
        # ledger for its retention period. The error-level audit event is the record. Deleted
        # only as written here: a replay that finished this count first decides instead.
        try:
            await self._table.delete_entity(
                PARTITION,
                record.id,
                etag=record.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except ResourceModifiedError:
            raise LeaseLostError(f"reset {record.id} was counted by a replay") from None
        except ResourceNotFoundError:
            pass  # a replay refused it first
        record.status, record.last_error = ResetStatus.refused, detail
        record.finished_at = self._clock()
        # Let the same request through once the window has room, instead of replaying this.
        with contextlib.suppress(ResourceNotFoundError):
            await self._table.delete_entity(PARTITION, index_key)
        raise LimitReachedError(limit, detail, retry_after, record)

    async def count_in_window(self, name: str, cap: int) -> int | None:
        """Count one more event of ``name`` in the current clock hour, unless ``cap`` are
        counted already; then return the seconds until the hour ends (nothing is counted).

        One row per name and hour, incremented with ETag-conditional writes: exact across
        instances, one read and one write per event whatever the volume, and retention
        removes old windows like any other row.
        """
        now = self._clock()
        window = now.replace(minute=0, second=0, microsecond=0)
        digest = hashlib.sha256(name.encode()).hexdigest()[:32]
        key = f"counter-{digest}-{window:%Y%m%d%H}"
        while True:
            try:
                row = await self._table.get_entity(PARTITION, key)
            except ResourceNotFoundError:
                entity = {
                    "PartitionKey": PARTITION,
                    "RowKey": key,
                    "Kind": KIND_COUNTER,
                    "AcceptedAt": window,
                    "Count": 1,
                }
                try:
                    await self._table.create_entity(entity)
                except ResourceExistsError:
                    continue  # another instance counted the window's first: count again
                return None
            if int(row.get("Count", 0)) >= cap:
                return max(1, math.ceil((window + HOUR - now).total_seconds()))
            etag = await self._merge_if_unchanged(
                {"PartitionKey": PARTITION, "RowKey": key, "Count": int(row["Count"]) + 1},
                row.metadata.get("etag"),
            )
            if etag is not None:
                return None
