"""The blast-radius limits: the tenant's hourly cap, the per-user cooldown, per-caller counters.

Counted in the ledger's table, so every instance of the app sees the same count, in a few rows
read and written in O(1) whatever the volume: a request is counted after its own row is
written, in ETag-conditional writes, so two instances admitting at once can never both slip
past a limit. The reset rows stay the record of what was asked; these rows only decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode

from shared.ledger.records import (
    DAY,
    HOUR,
    KIND_COUNTER,
    KIND_LIMITER,
    LIMITS_PARTITION,
    PARTITION,
    LeaseLostError,
    LedgerRecord,
    LimitReachedError,
    Limits,
    ResetStatus,
)
from shared.ledger.store import LedgerStore

MINUTE = timedelta(minutes=1)
TENANT_ROW = "tenant"
# Conflicting admissions each read and try again; a burst of this many is not expected.
_MAX_RESERVE_TRIES = 50


class LimitCounting(LedgerStore):
    """Counting against the limits, for admission and for dry runs."""

    async def _enforce(self, record: LedgerRecord, limits: Limits, index_key: str) -> None:
        """Reserve ``record``'s place under both limits, or refuse it.

        Counted in two limiter rows, read and written together in one ETag-conditional
        transaction: the tenant's admissions per minute over the last hour, and the user's
        admission times over the last 24 hours. What an admission costs does not grow with the
        number of resets in the window (two point reads and one write), and two instances
        admitting at once cannot both pass: the second transaction finds a row changed, reads
        again and counts the first.
        """
        user_row = _user_row(record)
        now = record.accepted_at
        for _ in range(_MAX_RESERVE_TRIES):
            tenant: Any
            if limits.hour_reserved:  # a sweep's page holds its place: the user's row only
                tenant, user = {}, await self._limiter(user_row)
            else:
                tenant, user = await asyncio.gather(
                    self._limiter(TENANT_ROW), self._limiter(user_row)
                )
            minutes = window_minutes(tenant.get("Minutes"), now)
            times = window_times(user.get("Times"), now)
            if not limits.hour_reserved and sum(minutes.values()) >= limits.per_hour:
                limit = "tenant-hourly-cap"
                detail = f"{limits.per_hour} resets per rolling hour reached for the tenant"
                frees_at = minute_frees_at(minutes, limits.per_hour)
            elif len(times) >= limits.per_user_per_day:
                limit = "user-cooldown"
                detail = f"{limits.per_user_per_day} resets of this user per 24 hours reached"
                frees_at = times[len(times) - limits.per_user_per_day] + DAY
            else:
                slot = f"{now:%Y%m%d%H%M}"
                minutes[slot] = minutes.get(slot, 0) + 1
                times.append(now)
                operations = (
                    []
                    if limits.hour_reserved
                    else [
                        _limiter_write(tenant, TENANT_ROW, Minutes=json.dumps(minutes), LastAt=now),
                    ]
                )
                operations += [
                    _limiter_write(
                        user,
                        user_row,
                        Times=json.dumps([t.timestamp() for t in times]),
                        LastAt=now,
                    ),
                ]
                try:
                    await self._table.submit_transaction(operations)
                except (TableTransactionError, ResourceExistsError, ResourceModifiedError):
                    continue  # another admission came first: count again
                return
            break
        else:
            raise ResourceModifiedError("the limits kept changing: admission not decided")
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

    async def reserve_hour(self, wanted: int, cap: int) -> int:
        """Reserve up to ``wanted`` places under the tenant's hourly cap at once (a page of a
        sweep, admitted together afterwards); returns how many were granted, maybe 0. One read
        and one conditional write for the page instead of one per member."""
        return await self._change_hour(lambda room: min(wanted, room), cap)

    async def release_hour(self, unused: int) -> None:
        """Give back reserved places that no admission took (a member already requested)."""
        if unused > 0:
            await self._change_hour(lambda room: -unused, None)

    async def _change_hour(self, change: Callable[[int], int], cap: int | None) -> int:
        for _ in range(_MAX_RESERVE_TRIES):
            now = self._clock()
            tenant = await self._limiter(TENANT_ROW)
            minutes = window_minutes(tenant.get("Minutes"), now)
            room = (cap - sum(minutes.values())) if cap is not None else 0
            delta = change(max(0, room))
            if delta == 0:
                return 0
            slot = f"{now:%Y%m%d%H%M}"
            if delta < 0:  # taken back from the newest minutes, where the reservation went
                owed = -delta
                for key in sorted(minutes, reverse=True):
                    taken = min(owed, minutes[key])
                    minutes[key] -= taken
                    owed -= taken
            else:
                minutes[slot] = minutes.get(slot, 0) + delta
            minutes = {k: n for k, n in minutes.items() if n > 0}
            try:
                await self._table.submit_transaction(
                    [_limiter_write(tenant, TENANT_ROW, Minutes=json.dumps(minutes), LastAt=now)]
                )
            except (TableTransactionError, ResourceExistsError, ResourceModifiedError):
                continue
            return delta
        raise ResourceModifiedError("the limits kept changing: reservation not decided")

    async def give_back(self, record: LedgerRecord, *, hour: bool = True) -> None:
        """Return the places a reset took under both limits: it was refused (a protected
        account), so it reset nobody and must not hold up the next legitimate reset. The
        refusal stays in the ledger and the audit trail (and the alert sees it).

        ``hour``: also the tenant's hourly place (a sweep's member took one of its page's).
        Both rows in one conditional transaction, like an admission.
        """
        user_row = _user_row(record)
        at = record.accepted_at
        slot = f"{at:%Y%m%d%H%M}"
        for _ in range(_MAX_RESERVE_TRIES):
            tenant, user = await asyncio.gather(self._limiter(TENANT_ROW), self._limiter(user_row))
            now = self._clock()
            operations = []
            minutes = window_minutes(tenant.get("Minutes"), now)
            if hour and minutes:
                # Its own minute if still counted there, else the nearest earlier one.
                key = (
                    slot
                    if minutes.get(slot)
                    else max((k for k in minutes if k <= slot), default=None)
                )
                if key is not None:
                    minutes[key] -= 1
                    minutes = {k: n for k, n in minutes.items() if n > 0}
                    operations.append(
                        _limiter_write(tenant, TENANT_ROW, Minutes=json.dumps(minutes), LastAt=now)
                    )
            times = window_times(user.get("Times"), now)
            mine = [t for t in times if abs((t - at).total_seconds()) < 0.001]
            if mine:
                times.remove(mine[0])
                operations.append(
                    _limiter_write(
                        user, user_row, Times=json.dumps([t.timestamp() for t in times]), LastAt=now
                    )
                )
            if not operations:
                return
            try:
                await self._table.submit_transaction(operations)
            except (TableTransactionError, ResourceExistsError, ResourceModifiedError):
                continue
            return
        raise ResourceModifiedError("the limits kept changing: places not given back")

    async def _limiter(self, row_key: str) -> Any:
        """A limiter row as read (with its etag), or an empty one not yet written."""
        try:
            return await self._table.get_entity(LIMITS_PARTITION, row_key)
        except ResourceNotFoundError:
            return {}


def _user_row(record: LedgerRecord) -> str:
    user_key = (record.user_id or record.target).lower()
    return f"user-{hashlib.sha256(user_key.encode()).hexdigest()[:32]}"


def _limiter_write(read: Any, row_key: str, **values: Any) -> tuple[str, Any, Any]:
    """The transaction step that writes a limiter row only if it is still as ``read``."""
    entity = {"PartitionKey": LIMITS_PARTITION, "RowKey": row_key, "Kind": KIND_LIMITER, **values}
    etag = getattr(read, "metadata", {}).get("etag")
    if etag is None:
        return ("create", entity, {})
    return (
        "update",
        entity,
        {
            "mode": UpdateMode.REPLACE,
            "etag": etag,
            "match_condition": MatchConditions.IfNotModified,
        },
    )


def window_minutes(stored: str | None, now: datetime) -> dict[str, int]:
    """The tenant's admissions per minute that may still be in the rolling hour before ``now``.

    Whole minutes: a minute's admissions leave the window when the whole minute is over an hour
    old, so the count may be up to a minute late to fall, never early to.
    """
    since = now - HOUR - MINUTE
    counts: dict[str, int] = json.loads(stored) if stored else {}
    return {
        slot: n
        for slot, n in counts.items()
        if datetime.strptime(slot, "%Y%m%d%H%M").replace(tzinfo=UTC) > since
    }


def minute_frees_at(minutes: dict[str, int], cap: int) -> datetime:
    """When enough of the window's admissions have left it for one more."""
    must_leave = sum(minutes.values()) - cap + 1
    left = 0
    for slot in sorted(minutes):
        left += minutes[slot]
        if left >= must_leave:
            return datetime.strptime(slot, "%Y%m%d%H%M").replace(tzinfo=UTC) + HOUR + MINUTE
    raise AssertionError("a full window frees")


def window_times(stored: str | None, now: datetime) -> list[datetime]:
    """The user's admission times within the 24 hours before ``now``, oldest first."""
    times = (datetime.fromtimestamp(t, UTC) for t in (json.loads(stored) if stored else []))
    return sorted(t for t in times if t > now - DAY)
