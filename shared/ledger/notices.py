"""Notifications in the ledger: the links they carry, how each went, and what they set off.

A notification's link ("this wasn't me") carries a random token; the ledger keeps only a keyed
digest of it, bound to the reset and the recipient (``shared.notify.links``), in its own
partition with its expiry and the time it was used. Using a link is a conditional write on that
row, so two clicks act once. How each notification went is kept in one row per reset beside it (so a
status read shows it), and so is where the last notification goes: the user's email method is
deleted by the reset, so its address is read at admission and kept only until the end's
notification has gone.

The book is given to the ledger (``Ledger.notices``) rather than mixed into it: it needs the
table and the clock, nothing of admission or execution.
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
from shared.ledger.records import KIND_NOTICE, NOTICES_PARTITION


class NoticeLink:
    """A link's row: which reset and recipient it was issued for, until when, whether used."""

    def __init__(self, entity: Any) -> None:
        self.digest: str = entity["RowKey"]
        self.reset_id: str = entity["ResetId"]
        self.recipient: str = entity["Recipient"]
        self.expires_at: datetime = entity["ExpiresAt"]
        self.used_at: datetime | None = entity.get("UsedAt")
        self.etag: str | None = entity.metadata.get("etag")


class NoticeBook:
    def __init__(self, table: TableClient, clock: Clock) -> None:
        self._table = table
        self._clock = clock

    async def issue(self, digest: str, reset_id: str, recipient: str, expires: datetime) -> None:
        entity = {
            "PartitionKey": NOTICES_PARTITION,
            "RowKey": digest,
            "Kind": KIND_NOTICE,
            "ResetId": reset_id,
            "Recipient": recipient,
            "ExpiresAt": expires,
            "RecordedAt": self._clock(),
        }
        # Created, never overwritten: a digest is of 256 random bits, so a clash is not expected.
        await self._table.create_entity(entity)

    async def find(self, digest: str) -> NoticeLink | None:
        try:
            return NoticeLink(await self._table.get_entity(NOTICES_PARTITION, digest))
        except ResourceNotFoundError:
            return None

    async def use(self, link: NoticeLink) -> bool:
        """Mark the link used, unless someone used it first; True when this call did."""
        if link.used_at is not None:
            return False
        try:
            await self._table.update_entity(
                {"PartitionKey": NOTICES_PARTITION, "RowKey": link.digest, "UsedAt": self._clock()},
                mode=UpdateMode.MERGE,
                etag=link.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        return True

    async def about(self, reset_id: str) -> Notices:
        """How the reset's notifications went, where the next goes, and any dispute."""
        try:
            entity = await self._table.get_entity(NOTICES_PARTITION, _results_key(reset_id))
        except ResourceNotFoundError:
            return Notices()
        return Notices.from_entity(entity)

    async def record(
        self,
        reset_id: str,
        results: list[dict[str, Any]],
        notify_to: list[dict[str, str]] | None,
        first_name: str | None = None,
    ) -> None:
        """Add how these notifications went; ``notify_to`` replaces where the next one goes
        (an empty list once the last has gone); ``first_name`` greets the user on the pages."""

        def change(notices: Notices) -> dict[str, Any]:
            columns: dict[str, Any] = {"Results": json.dumps([*notices.results, *results])}
            if notify_to is not None:
                columns["NotifyTo"] = json.dumps(notify_to)
            if first_name is not None:
                columns["FirstName"] = first_name
            return columns

        await self._change(reset_id, change)

    async def dispute(self, reset_id: str, recipient: str) -> bool:
        """Mark the reset disputed; False when it was already (the first dispute is kept)."""
        first = False

        def change(notices: Notices) -> dict[str, Any]:
            nonlocal first
            if notices.disputed_at is not None:
                return {}
            first = True
            return {"DisputedAt": self._clock(), "DisputedBy": recipient}

        await self._change(reset_id, change)
        return first

    async def _change(self, reset_id: str, change: Callable[[Notices], dict[str, Any]]) -> None:
        """Apply ``change`` to the reset's notices row, created on first use; again on the
        fresh row when another write came first."""
        key = _results_key(reset_id)
        for _ in range(8):
            try:
                entity = await self._table.get_entity(NOTICES_PARTITION, key)
            except ResourceNotFoundError:
                entity = None
            notices = Notices.from_entity(entity) if entity is not None else Notices()
            columns = change(notices)
            if not columns:
                return
            row = {"PartitionKey": NOTICES_PARTITION, "RowKey": key, **columns}
            try:
                if entity is None:
                    row.update(Kind=KIND_NOTICE, ResetId=reset_id, RecordedAt=self._clock())
                    await self._table.create_entity(row)
                else:
                    await self._table.update_entity(
                        row,
                        mode=UpdateMode.MERGE,
                        etag=entity.metadata.get("etag"),
                        match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError):
                continue
            return
        raise ResourceModifiedError(f"reset {reset_id}: its notices kept changing")


@dataclass
class Notices:
    """A reset's notifications as recorded (one row beside the reset's, never the reset's own
    row: a write here must not move the reset's ETag under a worker that owns it)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    notify_to: list[dict[str, str]] = field(default_factory=list)
    disputed_at: datetime | None = None
    disputed_by: str | None = None
    first_name: str | None = None

    @classmethod
    def from_entity(cls, entity: Any) -> Notices:
        return cls(
            results=json.loads(entity.get("Results") or "[]"),
            notify_to=json.loads(entity.get("NotifyTo") or "[]"),
            disputed_at=entity.get("DisputedAt"),
            disputed_by=entity.get("DisputedBy") or None,
            first_name=entity.get("FirstName") or None,
        )


def _results_key(reset_id: str) -> str:
    return f"reset-{reset_id}"
