"""The reset ledger in Azure Table Storage: what was asked, who runs it, how far it got.

One row per reset request, plus one index row per idempotency key, both in one partition so that
accepting a request (row + index) is a single atomic entity-group transaction: a request
submitted twice, or by two callers at once, gets one row and one id.

Exactly-once execution rests on optimistic concurrency. A worker *claims* a row with an
ETag-conditional update that sets it ``running`` under a lease; of several workers given the same
message, one update succeeds and the others see a live lease held by someone else. Every later
write of the owner (checkpoints after each step, the final outcome) is conditional on the ETag of
its previous write, so a worker that lost its lease (it stalled past the lease and another worker
took over) finds out at its next write and stops. A crashed worker's lease simply expires.

Stored: ticket, requester, target, timestamps, the outcome so far (steps with Graph request-ids),
attempts, the last error. Not stored: phone numbers in clear (masked), Temporary Access Pass
values (the outcome's serialiser masks them), tokens.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient
from pydantic import ValidationError

from shared.clock import Clock, utc_now
from shared.identity import get_credential
from shared.models import Outcome, ResetRequest
from shared.settings import SettingsError, get_settings

log = logging.getLogger(__name__)

PARTITION = "reset"
_INDEX_PREFIX = "idempotency-"
# Rows of reset requests carry Kind="reset"; other kinds of row can share the partition.
KIND_RESET = "reset"
KIND_COUNTER = "counter"
# Summaries of scheduled runs live in their own partition.
RUN_PARTITION = "run"
KIND_RUN = "cleanup-run"
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
# A row younger than this may still be being counted by the instance that wrote it.
ADMISSION_GRACE = timedelta(seconds=60)


class ResetStatus(StrEnum):
    accepted = "accepted"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    refused = "refused"

    @property
    def finished(self) -> bool:
        return self in (ResetStatus.succeeded, ResetStatus.failed, ResetStatus.refused)


class IdempotencyConflictError(Exception):
    """The idempotency key was used before for a different request."""


class LeaseHeldError(Exception):
    """Another worker is running this reset under a live lease."""

    def __init__(self, reset_id: str, expires_at: datetime) -> None:
        super().__init__(f"reset {reset_id} is running elsewhere until {expires_at.isoformat()}")
        self.expires_at = expires_at


class LeaseLostError(Exception):
    """This worker's lease was taken over: it must stop writing to Graph and to the ledger."""


@dataclass(frozen=True)
class Limits:
    """Blast-radius limits, counted over the ledger so every instance sees the same count."""

    per_hour: int
    per_user_per_day: int


class LimitReachedError(Exception):
    """Accepting this reset would pass a limit; its row was removed (``record`` says why)."""

    def __init__(self, limit: str, detail: str, retry_after: int, record: LedgerRecord) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail
        self.retry_after = retry_after
        self.record = record


@dataclass
class LedgerRecord:
    id: str
    status: ResetStatus
    ticket_id: str
    requested_by: str
    target: str
    mode: str
    accepted_at: datetime
    attempts: int
    request: dict[str, Any]
    outcome: Outcome | None
    user_id: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = None
    caller: dict[str, Any] | None = None
    retryable: bool = False
    redrives: int = 0
    redriven_at: datetime | None = None
    admitted: bool = True
    sweep_group_id: str | None = None
    group_removal: str | None = None
    signature: str | None = None
    etag: str | None = None

    @classmethod
    def from_entity(cls, entity: Any) -> LedgerRecord:
        outcome_json = entity.get("Outcome")
        return cls(
            id=entity["RowKey"],
            status=ResetStatus(entity["Status"]),
            ticket_id=entity["TicketId"],
            requested_by=entity["RequestedBy"],
            target=entity["Target"],
            mode=entity.get("Mode", "async"),
            accepted_at=entity["AcceptedAt"],
            attempts=int(entity.get("Attempts", 0)),
            request=json.loads(entity["Request"]),
            outcome=Outcome.model_validate_json(outcome_json) if outcome_json else None,
            user_id=entity.get("UserId"),
            started_at=entity.get("StartedAt"),
            finished_at=entity.get("FinishedAt"),
            lease_owner=entity.get("LeaseOwner"),
            lease_expires_at=entity.get("LeaseExpiresAt"),
            last_error=entity.get("LastError"),
            caller=(
                {
                    "authenticated_by": entity["CallerAuth"],
                    "app_id": entity.get("CallerAppId"),
                    "name": entity.get("CallerName"),
                }
                if entity.get("CallerAuth")
                else None
            ),
            retryable=bool(entity.get("Retryable", False)),
            redrives=int(entity.get("Redrives", 0)),
            redriven_at=entity.get("RedrivenAt"),
            admitted=bool(entity.get("Admitted", True)),
            sweep_group_id=entity.get("SweepGroupId"),
            group_removal=entity.get("GroupRemoval"),
            signature=entity.get("Signature"),
            etag=entity.metadata.get("etag"),
        )

    def stored_request(self) -> ResetRequest | None:
        """The request again, from the ledger's copy, or None when it cannot be rebuilt exactly.

        The ledger keeps a new phone number masked and never has a TAP to hand to anyone, so a
        request with either cannot be re-run from here: only its own message, or a new
        submission, can run it.
        """
        stored = dict(self.request)
        if stored.get("new_phone") or stored.get("temporary_access_pass"):
            return None
        stored.update(mode="async", dry_run=False)
        try:
            return ResetRequest.model_validate_json(json.dumps(stored))
        except ValidationError:
            return None

    def lease_live(self, now: datetime) -> bool:
        return (
            self.status is ResetStatus.running
            and self.lease_expires_at is not None
            and self.lease_expires_at > now
        )


def idempotency_scope(
    request: ResetRequest, idempotency_key: str | None, caller_app_id: str | None = None
) -> str:
    """What makes two submissions "the same": the caller's key, else ticket plus target.

    A key belongs to its caller (the application id of a verified token): keys are often
    predictable (a ticket number), and another caller must not pre-claim one (and cause a 422)
    or read back an outcome under it. Function-key callers share one scope: the host does not
    tell the app which key was used.
    """
    if idempotency_key:
        return f"key:{(caller_app_id or 'function-key').lower()}:{idempotency_key}"
    return f"ticket:{request.ticket_id.lower()}|user:{request.user.lower()}"


def request_fingerprint(request: ResetRequest) -> str:
    """A digest to tell a replay from a different request under the same key.

    Taken over the masked form: a digest of a phone number can be reversed by trying them all.
    """
    canonical = json.dumps(request.to_record(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _index_row_key(scope: str) -> str:
    return _INDEX_PREFIX + hashlib.sha256(scope.encode()).hexdigest()


def _outcome_json(outcome: Outcome) -> str:
    return json.dumps(outcome.to_record())


def _resolved_user(outcome: Outcome) -> dict[str, str]:
    """The user's object id and UPN once known, so the per-user cooldown recognises the user
    however a later request names them."""
    return {
        "UserId": outcome.user.id.lower(),
        "TargetUpn": outcome.user.user_principal_name.lower(),
    }


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


def _request_ids(outcome: Outcome) -> str:
    found = (s.error.request_id if s.error else s.request_id for s in outcome.steps)
    ids = [i for i in found if i]
    return ",".join(ids)


class Ledger:
    def __init__(self, table: TableClient, clock: Clock = utc_now) -> None:
        self._table = table
        self._clock = clock

    async def ensure_table(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._table.create_table()

    async def close(self) -> None:
        await self._table.close()

    async def get(self, reset_id: str) -> LedgerRecord | None:
        if reset_id.startswith(_INDEX_PREFIX):
            return None
        try:
            entity = await self._table.get_entity(PARTITION, reset_id)
        except ResourceNotFoundError:
            return None
        return LedgerRecord.from_entity(entity)

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
    ) -> tuple[LedgerRecord, bool]:
        """Record a request; return its row and whether this call created it.

        ``signature`` is the app's signature of the request (``shared.signing``); the queue
        worker runs only messages that carry it for the request they carry. ``user`` is the
        target's object id and UPN, resolved at admission, so the per-user limit counts the
        user however a request names them.

        With ``claim_for`` the row is created already ``running`` under that owner's lease (a
        synchronous request runs in the invocation that accepted it). With ``limits`` the row is
        created not yet *admitted*, counted, and then admitted, or removed again with
        ``LimitReachedError`` raised (a refusal keeps no row; the audit event records it). A
        row whose count never finished (the instance died in between) is counted by the next
        submission of the same request, and is never run.
        """
        now = self._clock()
        fingerprint = request_fingerprint(request)
        entity: dict[str, Any] = {
            "PartitionKey": PARTITION,
            "RowKey": reset_id,
            "Status": str(ResetStatus.accepted),
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
        if caller is not None:
            entity.update(
                CallerAuth=caller.get("authenticated_by"),
                CallerAppId=caller.get("app_id"),
                CallerName=caller.get("name"),
            )
        if claim_for is not None:
            entity.update(
                Status=str(ResetStatus.running),
                Attempts=1,
                StartedAt=now,
                LeaseOwner=claim_for,
                LeaseExpiresAt=now + timedelta(seconds=lease_seconds),
            )
        caller_app_id = caller.get("app_id") if caller else None
        index_key = _index_row_key(idempotency_scope(request, idempotency_key, caller_app_id))
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
                existing = await self._existing(index_key, fingerprint)
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

    async def _existing(self, index_key: str, fingerprint: str) -> LedgerRecord | None:
        """The reset an idempotency entry points to; None when there is no entry, or only one
        whose reset is gone (retention stopped half-way), which is then removed."""
        try:
            index = await self._table.get_entity(PARTITION, index_key)
        except ResourceNotFoundError:
            return None
        if index.get("Fingerprint") != fingerprint:
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

    async def claim(self, reset_id: str, owner: str, lease_seconds: int) -> LedgerRecord:
        """Make ``owner`` the one worker running this reset, or say why not.

        Returns the claimed row (status ``running``, etag of the claim), or a finished row
        untouched. Raises ``LeaseHeldError`` while another worker's lease is live.
        """
        while True:
            record = await self.get(reset_id)
            if record is None:
                raise KeyError(reset_id)
            now = self._clock()
            if record.status.finished:
                return record
            if record.lease_live(now) and record.lease_owner != owner:
                assert record.lease_expires_at is not None
                raise LeaseHeldError(reset_id, record.lease_expires_at)
            update: dict[str, Any] = {
                "PartitionKey": PARTITION,
                "RowKey": reset_id,
                "Status": str(ResetStatus.running),
                "LeaseOwner": owner,
                "LeaseExpiresAt": now + timedelta(seconds=lease_seconds),
                "Attempts": record.attempts + 1,
                "StartedAt": record.started_at or now,
            }
            etag = await self._merge_if_unchanged(update, record.etag)
            if etag is None:
                continue  # someone else wrote first: look again
            record.status = ResetStatus.running
            record.lease_owner = owner
            record.lease_expires_at = update["LeaseExpiresAt"]
            record.attempts += 1
            record.started_at = update["StartedAt"]
            record.etag = etag
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

    async def _owned_write(self, record: LedgerRecord, properties: dict[str, Any]) -> None:
        entity = {"PartitionKey": PARTITION, "RowKey": record.id, **properties}
        etag = await self._merge_if_unchanged(entity, record.etag)
        if etag is None:
            raise LeaseLostError(f"reset {record.id} was taken over by another worker")
        record.etag = etag

    async def checkpoint(self, record: LedgerRecord, outcome: Outcome, lease_seconds: int) -> None:
        """Record progress after a step and extend the lease."""
        expires = self._clock() + timedelta(seconds=lease_seconds)
        await self._owned_write(
            record,
            {
                **_resolved_user(outcome),
                "Outcome": _outcome_json(outcome),
                "LeaseExpiresAt": expires,
            },
        )
        record.outcome, record.user_id, record.lease_expires_at = outcome, outcome.user.id, expires

    async def release(self, record: LedgerRecord, outcome: Outcome | None, error: str) -> None:
        """Give the reset back for a later attempt (Graph unavailable): lease ends now."""
        properties: dict[str, Any] = {"LeaseExpiresAt": self._clock(), "LastError": error[:2000]}
        if outcome is not None:
            properties.update(_resolved_user(outcome), Outcome=_outcome_json(outcome))
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
                _resolved_user(outcome),
                Outcome=_outcome_json(outcome),
                GraphRequestIds=_request_ids(outcome),
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

    # -- scheduled maintenance ----------------------------------------------------------------

    async def _resets(self, query: str, **parameters: Any) -> list[LedgerRecord]:
        rows = self._table.query_entities(
            f"PartitionKey eq @pk and Kind eq @kind and ({query})",
            parameters={"pk": PARTITION, "kind": KIND_RESET, **parameters},
        )
        return [LedgerRecord.from_entity(row) async for row in rows]

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

    async def mark_redriven(self, record: LedgerRecord) -> bool:
        """Count one more re-drive and, for a failed reset, make it ``accepted`` again.

        Conditional on the row being as it was read, so of two runs looking at it at once only
        one re-queues it. False: someone else changed it first.
        """
        properties: dict[str, Any] = {
            "PartitionKey": PARTITION,
            "RowKey": record.id,
            "Redrives": record.redrives + 1,
            "RedrivenAt": self._clock(),
        }
        if record.status is ResetStatus.failed:
            properties.update(Status=str(ResetStatus.accepted), Retryable=False)
        etag = await self._merge_if_unchanged(properties, record.etag)
        if etag is None:
            return False
        record.etag, record.redrives = etag, record.redrives + 1
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
        entity: dict[str, Any] = {
            "PartitionKey": PARTITION,
            "RowKey": record.id,
            "GroupRemoval": state,
        }
        if outcome is not None:
            entity["Outcome"] = _outcome_json(outcome)
        etag = await self._merge_if_unchanged(entity, record.etag)
        if etag is None:
            return False
        record.etag, record.group_removal = etag, state
        return True

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

    async def purge(self, older_than: datetime) -> int:
        """Delete rows accepted before ``older_than``: finished resets, their idempotency
        entries and run summaries. A reset still pending is kept whatever its age."""
        deleted = 0
        for partition, column in ((PARTITION, "AcceptedAt"), (RUN_PARTITION, "RecordedAt")):
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


_AZURITE = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def table_client(
    table_name: str,
    *,
    connection_string: str | None,
    table_service_uri: str | None,
    credential: Any,
) -> TableClient:
    """A table client from the RESET_STORAGE connection: a connection string, or an endpoint
    and the managed identity."""
    if connection_string:
        if connection_string.strip().lower() == "usedevelopmentstorage=true":
            connection_string = _AZURITE
        return TableClient.from_connection_string(connection_string, table_name=table_name)
    if not table_service_uri:
        raise SettingsError(
            "no storage connection: set RESET_STORAGE or RESET_STORAGE__tableServiceUri"
        )
    return TableClient(endpoint=table_service_uri, table_name=table_name, credential=credential)


class _ProcessLedger:
    """One table client per worker process, created on first use (like the Graph client)."""

    def __init__(self) -> None:
        self._ledger: Ledger | None = None
        self._lock: asyncio.Lock | None = None

    async def get(self) -> Ledger:
        if self._ledger is not None:
            return self._ledger
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._ledger is None:
                settings = get_settings()
                client_id = settings.storage_client_id or settings.managed_identity_client_id
                table = table_client(
                    settings.ledger_table_name,
                    connection_string=settings.storage_connection_string,
                    table_service_uri=settings.storage_table_service_uri,
                    credential=(
                        None if settings.storage_connection_string else get_credential(client_id)
                    ),
                )
                ledger = Ledger(table)
                await ledger.ensure_table()
                self._ledger = ledger
        return self._ledger

    async def close(self) -> None:
        if self._ledger is not None:
            await self._ledger.close()
        self._ledger, self._lock = None, None


_process_ledger = _ProcessLedger()


async def get_ledger() -> Ledger:
    """The ledger of this worker process."""
    return await _process_ledger.get()


async def close_ledger() -> None:
    await _process_ledger.close()
