"""Delivery of completion callbacks, as the ledger records it.

The reset's own row says how its callback stands (``pending``, ``delivered``, ``failed``, the
attempts and the last HTTP status), so a status read shows it and the scheduled run can find
callbacks that were never queued. The URL, which may carry the receiver's secret, is kept only
while it may still be called: it is emptied once the callback is delivered or has failed.
Writes here are ETag-conditional on the row as read and retried on a conflict: a callback never
changes the reset's own columns, and the reset's writes never touch these.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

from shared.ledger.records import PARTITION, CallbackRecord, LedgerRecord
from shared.ledger.store import LedgerStore
from shared.models import CallbackState

# What a change makes of the callback: its new record, or None to leave the row as it is.
Change = Callable[[CallbackRecord], CallbackRecord | None]


def _columns(callback: CallbackRecord) -> dict[str, Any]:
    return {
        "CallbackAttempts": callback.attempts,
        "CallbackState": str(callback.state),
        "CallbackLastStatus": callback.last_status,
        # A merge cannot drop a property: a finished callback's URL is emptied instead.
        "CallbackUrl": callback.url or "",
        "CallbackEvent": callback.event or "",
    }


class CallbackBook(LedgerStore):
    async def _change_callback(self, reset_id: str, change: Change) -> LedgerRecord | None:
        """Apply ``change`` to the row's callback, again on the fresh row if another write came
        first; None when the row is gone or has no callback."""
        for _ in range(5):
            record = await self.get(reset_id)
            if record is None or record.callback is None:
                return None
            changed = change(record.callback)
            if changed is None:
                return record
            entity = {"PartitionKey": PARTITION, "RowKey": reset_id, **_columns(changed)}
            try:
                etag = await self._merge_if_unchanged(entity, record.etag)
            except ResourceNotFoundError:
                return None
            if etag is not None:
                record.callback, record.etag = changed, etag
                return record
        raise ResourceModifiedError(f"reset {reset_id} kept changing; callback not recorded")

    async def callback_attempted(
        self, reset_id: str, status: int | None, state: CallbackState
    ) -> LedgerRecord | None:
        """Count one delivery attempt with the receiver's HTTP status (None: no answer).

        ``state`` is ``delivered`` or ``failed`` (given up; either way the URL is then
        dropped, as nothing calls it again), or ``pending`` (the queue will try again).
        Returns the row as written, or None when it is gone or has no callback.
        """

        now = self._clock()

        def attempted(callback: CallbackRecord) -> CallbackRecord:
            keep = state is CallbackState.pending or (
                state is CallbackState.delivered
                and callback.keep_until is not None
                and callback.keep_until > now
            )
            return CallbackRecord(
                host=callback.host,
                state=state,
                attempts=callback.attempts + 1,
                last_status=status,
                url=callback.url if keep else None,
                event=callback.event,
                keep_until=callback.keep_until,
            )

        return await self._change_callback(reset_id, attempted)

    async def callback_gave_up(self, reset_id: str) -> LedgerRecord | None:
        """Mark the callback failed without another attempt (the queue gave up, or the host is
        no longer allowed) and forget its URL, which nothing calls again; a delivered callback
        stays delivered."""

        def gave_up(callback: CallbackRecord) -> CallbackRecord | None:
            if callback.state is not CallbackState.pending:
                return None
            return CallbackRecord(
                host=callback.host,
                state=CallbackState.failed,
                attempts=callback.attempts,
                last_status=callback.last_status,
                url=None,
                event=callback.event,
                keep_until=callback.keep_until,
            )

        return await self._change_callback(reset_id, gave_up)

    async def callback_again(self, reset_id: str, event: str) -> LedgerRecord | None:
        """Arm the callback once more for ``event`` (a dispute after the reset ended), while
        its URL is still kept; the row as written, or None when there is nothing to call."""

        def again(callback: CallbackRecord) -> CallbackRecord | None:
            if callback.url is None:
                return None
            return CallbackRecord(
                host=callback.host,
                state=CallbackState.pending,
                attempts=0,
                last_status=None,
                url=callback.url,
                event=event,
                keep_until=callback.keep_until,
            )

        record = await self._change_callback(reset_id, again)
        return record if record and record.callback and record.callback.event == event else None

    async def forget_callback_urls(self, now: datetime) -> int:
        """Empty the URLs kept for a dispute once the time for one has passed."""
        rows = await self._resets("CallbackKeepUntil lt @now and CallbackUrl ne ''", now=now)
        forgotten = 0
        for record in rows:
            callback = record.callback
            if callback is None or callback.state is CallbackState.pending:
                continue
            changed = await self._change_callback(
                record.id,
                lambda c: CallbackRecord(
                    c.host, c.state, c.attempts, c.last_status, None, c.event, c.keep_until
                ),
            )
            forgotten += changed is not None
        return forgotten

    async def undelivered_callbacks(self, finished_before: datetime) -> list[LedgerRecord]:
        """Finished resets whose callback is still pending: queued and lost, or never queued
        (the worker stopped between recording the end and its output)."""
        rows = await self._resets(
            # A parameter must not end the filter: the SDK would read "@before)" as its name.
            "FinishedAt lt @before and CallbackState eq 'pending'",
            before=finished_before,
        )
        return [r for r in rows if r.status.finished]
