"""Delivery of completion callbacks, as the ledger records it.

The reset's own row says how its callback stands (``pending``, ``delivered``, ``failed``, the
attempts and the last HTTP status), so a status read shows it and the scheduled run can find
callbacks that were never queued. The URL, which may carry a secret, is removed once delivered.
Writes here are ETag-conditional on the row as read and retried on a conflict: a callback never
changes the reset's own columns, and the reset's writes never touch these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.ledger.records import PARTITION, CallbackRecord, LedgerRecord
from shared.ledger.store import LedgerStore
from shared.models import CallbackState


class CallbackBook(LedgerStore):
    async def callback_attempted(
        self, reset_id: str, status: int | None, state: CallbackState
    ) -> LedgerRecord | None:
        """Count one delivery attempt with the receiver's HTTP status (None: no answer).

        ``state`` is ``delivered`` (the URL is then dropped), ``failed`` (given up), or
        ``pending`` (the queue will try again). Returns the row as written, or None when it is
        gone or has no callback.
        """
        for _ in range(5):
            record = await self.get(reset_id)
            if record is None or record.callback is None:
                return None
            callback = record.callback
            entity: dict[str, Any] = {
                "PartitionKey": PARTITION,
                "RowKey": reset_id,
                "CallbackAttempts": callback.attempts + 1,
                "CallbackState": str(state),
                "CallbackLastStatus": status,
            }
            if state is CallbackState.delivered:
                entity["CallbackUrl"] = ""  # a merge cannot drop a property; emptied instead
            try:
                await self._table.update_entity(
                    entity,
                    mode=UpdateMode.MERGE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            except ResourceNotFoundError:
                return None
            record.callback = CallbackRecord(
                host=callback.host,
                state=state,
                attempts=callback.attempts + 1,
                last_status=status,
                url=None if state is CallbackState.delivered else callback.url,
            )
            return record
        raise ResourceModifiedError(f"reset {reset_id} kept changing; callback not recorded")

    async def callback_gave_up(self, reset_id: str) -> LedgerRecord | None:
        """Mark the callback failed without another attempt (the queue gave up, or the host is
        no longer allowed); a delivered callback stays delivered."""
        for _ in range(5):
            record = await self.get(reset_id)
            if record is None or record.callback is None:
                return None
            if record.callback.state is not CallbackState.pending:
                return record
            try:
                await self._table.update_entity(
                    {
                        "PartitionKey": PARTITION,
                        "RowKey": reset_id,
                        "CallbackState": str(CallbackState.failed),
                    },
                    mode=UpdateMode.MERGE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except ResourceModifiedError:
                continue
            except ResourceNotFoundError:
                return None
            record.callback.state = CallbackState.failed
            return record
        raise ResourceModifiedError(f"reset {reset_id} kept changing; callback not recorded")

    async def undelivered_callbacks(self, finished_before: datetime) -> list[LedgerRecord]:
        """Finished resets whose callback is still pending: queued and lost, or never queued
        (the worker stopped between recording the end and its output)."""
        rows = await self._resets(
            # A parameter must not end the filter: the SDK would read "@before)" as its name.
            "FinishedAt lt @before and CallbackState eq 'pending'",
            before=finished_before,
        )
        return [r for r in rows if r.status.finished]
