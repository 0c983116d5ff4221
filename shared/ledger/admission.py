"""Admission: a request becomes a ledger row once, under its idempotency entry and the limits.

The row and its idempotency entry are written in one entity-group transaction (same partition),
so a request submitted twice, or by two callers at once, gets one row and one id.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError

from shared.ledger.limits import LimitCounting
from shared.ledger.records import (
    ADMISSION_GRACE,
    INDEX_PREFIX,
    KIND_RESET,
    PARTITION,
    IdempotencyConflictError,
    LeaseLostError,
    LedgerRecord,
    Limits,
    ResetStatus,
    caller_columns,
    idempotency_scope,
)
from shared.ledger.seal import sealed_state
from shared.models import CallbackState, ResetRequest, callback_host


def index_row_key(scope: str) -> str:
    return INDEX_PREFIX + hashlib.sha256(scope.encode()).hexdigest()


class Admission(LimitCounting):
    """Accepting requests: row and idempotency entry at once, then the count."""

    async def accept(
        self,
        request: ResetRequest,
        reset_id: str,
        *,
        idempotency_key: str | None = None,
        claim_for: str | None = None,
        lease_seconds: int = 600,
        caller: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        sweep_group_id: str | None = None,
        signature: str | None = None,
        user: tuple[str, str] | None = None,
        accepted_at: datetime | None = None,
        hold_until: datetime | None = None,
        keep_callback_until: datetime | None = None,
        awaiting_verification: bool = False,
    ) -> tuple[LedgerRecord, bool]:
        """Record a request; return its row and whether this call created it.

        ``signature`` is the app's signature of the work item (``shared.signing``), made over
        the request, ``user``, ``accepted_at`` and ``caller`` as recorded here; the queue worker
        runs only messages that carry it and match the row. ``user`` is the target's object id
        and UPN, resolved at admission, so the per-user limit counts the user however a request
        names them.

        With ``claim_for`` the row is created already ``running`` under that owner's lease (a
        synchronous request runs in the invocation that accepted it). With ``limits`` the row is
        created not yet *admitted*, counted, and then admitted, or removed again with
        ``LimitReachedError`` raised (a refusal keeps no row; the audit event records it). A
        row whose count never finished (the instance died in between) is counted by the next
        submission of the same request, and is never run.
        """
        now = accepted_at or self._clock()
        fingerprint = self._seal.fingerprint(request)
        entity: dict[str, Any] = {
            "PartitionKey": PARTITION,
            "RowKey": reset_id,
            "Status": str(
                ResetStatus.awaiting_verification if awaiting_verification else ResetStatus.accepted
            ),
            "TicketId": request.ticket_id,
            "RequestedBy": request.requested_by,
            "Target": request.user,
            "Mode": request.mode,
            "AcceptedAt": now,
            "Attempts": 0,
            "Request": json.dumps(request.to_record()),
            "Fingerprint": fingerprint,
            "Kind": KIND_RESET,
            "TargetKey": request.user.lower(),
            "Admitted": limits is None,
            "Signature": signature,
            **({"UserId": user[0].lower(), "TargetUpn": user[1].lower()} if user else {}),
        }
        if sweep_group_id is not None:
            entity.update(SweepGroupId=sweep_group_id, GroupRemoval="pending")
        if hold_until is not None:
            entity["HoldUntil"] = hold_until
        if request.callback_url is not None:
            entity.update(
                CallbackUrl=request.callback_url,
                CallbackHost=callback_host(request.callback_url),
                CallbackState=str(CallbackState.pending),
                CallbackAttempts=0,
            )
            if keep_callback_until is not None:
                entity["CallbackKeepUntil"] = keep_callback_until
        if caller is not None:
            entity.update(caller_columns(caller))
        if claim_for is not None:
            entity.update(
                Status=str(ResetStatus.running),
                Attempts=1,
                StartedAt=now,
                LeaseOwner=claim_for,
                LeaseExpiresAt=now + timedelta(seconds=lease_seconds),
            )
        entity["StateMac"] = self._sealed(reset_id, sealed_state(entity))
        caller_app_id = caller.get("app_id") if caller else None
        index_key = index_row_key(idempotency_scope(request, idempotency_key, caller_app_id))
        index = {
            "PartitionKey": PARTITION,
            "RowKey": index_key,
            "ResetId": reset_id,
            "Fingerprint": fingerprint,
            "AcceptedAt": now,
        }
        for _ in range(3):
            try:
                await self._table.submit_transaction([("create", entity), ("create", index)])
            except (TableTransactionError, ResourceExistsError):
                existing = await self._existing(index_key, request)
                if existing is None:
                    continue  # the entry went away meanwhile (a refusal, retention): again
                if (
                    limits is not None
                    and not existing.admitted
                    and not existing.status.finished
                    and existing.accepted_at < self._clock() - ADMISSION_GRACE
                ):
                    existing = await self._admit_replayed(existing, limits, index_key)
                return existing, False
            record = await self.get(reset_id)
            assert record is not None
            if limits is not None:
                await self._admit(record, limits, index_key)
            return record, True
        raise RuntimeError(f"reset {reset_id} could not be recorded: its entry kept changing")

    async def _admit(self, record: LedgerRecord, limits: Limits, index_key: str) -> None:
        await self._enforce(record, limits, index_key)
        try:
            await self._owned_write(record, {"Admitted": True})
        except LeaseLostError:
            # A replay of a count it thought abandoned decided first: go with its decision.
            fresh = await self.get(record.id)
            if fresh is None or fresh.status is ResetStatus.refused or not fresh.admitted:
                raise
            record.etag, record.status = fresh.etag, fresh.status
        record.admitted = True

    async def _admit_replayed(
        self, record: LedgerRecord, limits: Limits, index_key: str
    ) -> LedgerRecord:
        """Finish the count a first submission did not get to (another replay may be doing
        the same; whichever writes first decides)."""
        try:
            await self._admit(record, limits, index_key)
        except LeaseLostError:
            fresh = await self.get(record.id)
            return fresh if fresh is not None else record
        return record

    async def _existing(self, index_key: str, request: ResetRequest) -> LedgerRecord | None:
        """The reset an idempotency entry points to; None when there is no entry, or only one
        whose reset is gone (retention stopped half-way), which is then removed."""
        try:
            index = await self._table.get_entity(PARTITION, index_key)
        except ResourceNotFoundError:
            return None
        if index.get("Fingerprint") not in self._seal.fingerprints(request):
            raise IdempotencyConflictError(
                "this idempotency key (or ticket and user) was used for a different request"
            )
        record = await self.get(index["ResetId"])
        if record is None:
            with contextlib.suppress(ResourceNotFoundError, ResourceModifiedError):
                await self._table.delete_entity(
                    PARTITION,
                    index_key,
                    etag=index.metadata.get("etag"),
                    match_condition=MatchConditions.IfNotModified,
                )
        return record
