"""What the ledger stores: statuses, the row as the app reads it, and how values map to columns.

Everything else in the package reads and writes rows through these definitions, so a column's
name and meaning are decided in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from shared.ledger.seal import sealed_state
from shared.models import CallbackState, CallbackView, Outcome, ResetRequest

PARTITION = "reset"
INDEX_PREFIX = "idempotency-"
# Rows of reset requests carry Kind="reset"; other kinds of row can share the partition.
KIND_RESET = "reset"
KIND_COUNTER = "counter"
# The limiter rows (the tenant's hourly count, each user's daily one), in their own partition so
# that one transaction can write both.
LIMITS_PARTITION = "limits"
KIND_LIMITER = "limiter"
# Summaries of scheduled runs live in their own partition.
RUN_PARTITION = "run"
KIND_RUN = "cleanup-run"
# The links of notifications ("this wasn't me"), by the keyed digest of their token.
NOTICES_PARTITION = "notice"
KIND_NOTICE = "notice"
# Digests of the sweep pages admitted, so a copy of one put back on the queue admits nobody.
PAGES_PARTITION = "sweep-page"
KIND_PAGE = "sweep-page"
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)
# A row younger than this may still be being counted by the instance that wrote it.
ADMISSION_GRACE = timedelta(seconds=60)


class ResetStatus(StrEnum):
    # Admitted, waiting for the user to prove who they are (Verified ID) before it may run.
    awaiting_verification = "awaiting-verification"
    accepted = "accepted"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    refused = "refused"
    cancelled = "cancelled"  # stopped before it ran: by its caller, or by the user notified

    @property
    def finished(self) -> bool:
        return self in (
            ResetStatus.succeeded,
            ResetStatus.failed,
            ResetStatus.refused,
            ResetStatus.cancelled,
        )


class IdempotencyConflictError(Exception):
    """The idempotency key was used before for a different request."""


class LeaseHeldError(Exception):
    """Another worker is running this reset under a live lease."""

    def __init__(self, reset_id: str, expires_at: datetime) -> None:
        super().__init__(f"reset {reset_id} is running elsewhere until {expires_at.isoformat()}")
        self.expires_at = expires_at


class LeaseLostError(Exception):
    """This worker's lease was taken over: it must stop writing to Graph and to the ledger."""


class TamperedRowError(Exception):
    """The row's state was not written by the app (its seal does not verify): nothing acts on
    it. Someone with write access to the table changed it, or it predates the seal."""

    def __init__(self, reset_id: str) -> None:
        super().__init__(
            f"reset {reset_id}: the ledger row's state was not written by this app "
            "(its seal does not verify)"
        )
        self.reset_id = reset_id


@dataclass(frozen=True)
class Limits:
    """Blast-radius limits, counted over the ledger so every instance sees the same count."""

    per_hour: int
    per_user_per_day: int
    # The tenant's hourly count was reserved beforehand for a page of a sweep (``reserve_hour``):
    # only the user's cooldown is counted here.
    hour_reserved: bool = False


class LimitReachedError(Exception):
    """Accepting this reset would pass a limit; its row was removed (``record`` says why)."""

    def __init__(self, limit: str, detail: str, retry_after: int, record: LedgerRecord) -> None:
        super().__init__(detail)
        self.limit = limit
        self.detail = detail
        self.retry_after = retry_after
        self.record = record


@dataclass
class CallbackRecord:
    """A reset's completion callback: where it goes and how delivery stands.

    ``url`` (which may carry a secret in its query string) is kept only until the callback is
    delivered, or, when the user was notified, until ``keep_until`` (a dispute sends one more
    callback); ``host`` stays for the record. ``event``: the event to send next, when it is not
    the reset's end (a dispute).
    """

    host: str
    state: CallbackState
    attempts: int = 0
    last_status: int | None = None
    url: str | None = None
    event: str | None = None
    keep_until: datetime | None = None

    @classmethod
    def from_entity(cls, entity: Any) -> CallbackRecord | None:
        if not entity.get("CallbackHost"):
            return None
        status = entity.get("CallbackLastStatus")
        return cls(
            host=entity["CallbackHost"],
            state=CallbackState(entity.get("CallbackState", CallbackState.pending)),
            attempts=int(entity.get("CallbackAttempts", 0)),
            last_status=int(status) if status is not None else None,
            url=entity.get("CallbackUrl") or None,
            event=entity.get("CallbackEvent") or None,
            keep_until=entity.get("CallbackKeepUntil"),
        )

    def view(self) -> CallbackView:
        return CallbackView(
            host=self.host, state=self.state, attempts=self.attempts, last_status=self.last_status
        )


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
    callback: CallbackRecord | None = None
    etag: str | None = None
    # A held reset runs no earlier than this (signed with the work item).
    hold_until: datetime | None = None
    # The sealed columns as stored (``shared.ledger.seal``) and their MAC.
    state: dict[str, Any] = field(default_factory=dict)
    state_mac: str | None = None

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
            caller=caller_columns_read(entity),
            retryable=bool(entity.get("Retryable", False)),
            redrives=int(entity.get("Redrives", 0)),
            redriven_at=entity.get("RedrivenAt"),
            admitted=bool(entity.get("Admitted", True)),
            sweep_group_id=entity.get("SweepGroupId"),
            group_removal=entity.get("GroupRemoval"),
            signature=entity.get("Signature"),
            callback=CallbackRecord.from_entity(entity),
            etag=entity.metadata.get("etag"),
            hold_until=entity.get("HoldUntil"),
            state=sealed_state(entity),
            state_mac=entity.get("StateMac"),
        )

    def stored_request(self) -> ResetRequest | None:
        """The request again, from the ledger's copy, or None when it cannot be rebuilt exactly.

        The ledger keeps a new phone number masked and never has a TAP to hand to anyone, so a
        request with either cannot be re-run from here: only its own message, or a new
        submission, can run it. Nor can one whose callback URL is gone (delivered).
        """
        stored = dict(self.request)
        if stored.get("new_phone") or stored.get("temporary_access_pass"):
            return None
        if stored.get("callback_url"):
            # Stored cut to its host; the whole URL is kept beside it until delivery.
            if self.callback is None or self.callback.url is None:
                return None
            stored["callback_url"] = self.callback.url
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
    """What makes two submissions "the same": the caller's key, else its ticket plus target.

    Both belong to their caller (the application id of a verified token): keys and ticket
    numbers are predictable, and another caller must not pre-claim one (its request would get
    a 422 and never be queued) or read back an outcome under it. Function-key callers share
    one scope: the host does not tell the app which key was used.
    """
    caller = (caller_app_id or "function-key").lower()
    if idempotency_key:
        return f"key:{caller}:{idempotency_key}"
    return f"ticket:{caller}:{request.ticket_id.lower()}|user:{request.user.lower()}"


# The caller's columns: the client application, and for a delegated token the signed-in user.
CALLER_COLUMNS = {
    "authenticated_by": "CallerAuth",
    "app_id": "CallerAppId",
    "name": "CallerName",
    "user_id": "CallerUserId",
    "user_name": "CallerUserName",
}


def caller_columns(caller: Mapping[str, Any]) -> dict[str, Any]:
    return {column: caller.get(key) for key, column in CALLER_COLUMNS.items()}


def caller_columns_read(entity: Mapping[str, Any]) -> dict[str, Any] | None:
    if not entity.get("CallerAuth"):
        return None
    return {key: entity.get(column) or None for key, column in CALLER_COLUMNS.items()}


def outcome_json(outcome: Outcome) -> str:
    return json.dumps(outcome.to_record())


def resolved_user(outcome: Outcome) -> dict[str, str]:
    """The user's object id and UPN once known, so the per-user cooldown recognises the user
    however a later request names them."""
    return {
        "UserId": outcome.user.id.lower(),
        "TargetUpn": outcome.user.user_principal_name.lower(),
    }


def request_ids(outcome: Outcome) -> str:
    found = (s.error.request_id if s.error else s.request_id for s in outcome.steps)
    ids = [i for i in found if i]
    return ",".join(ids)


def hold_view(record: LedgerRecord, now: datetime) -> datetime | None:
    """When a held reset will run, while it still waits; None otherwise."""
    if record.status != "accepted" or record.hold_until is None:
        return None
    return record.hold_until if record.hold_until > now else None
