"""Signed work items and sweep pages: the workers act only on what the app itself admitted.

Anyone who can write to the storage queues or the ledger table (a storage data-plane role, a
leaked connection string) could otherwise steer a reset: put a message on the queue naming a
pending reset with another user, or merge another user's object id onto a pending row for the
genuine message to act on. So at admission the app signs everything the worker will act on:
the reset's id, the request as admitted (the new phone number unmasked), the user's object id
as admission resolved it, the admission time, who called, and the sweep it belongs to. The
worker verifies the signature, refuses an item whose admission is older than a queue message
may live, and checks that the row still says the same: no execution input comes from a column
the app did not sign (``docs/security.md`` lists the columns the worker reads and why each is
safe). An unkeyed hash would not do: a phone number is a small space, and the ledger's readers
could recover it from its hash.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.keyring import Keyring
from shared.models import ResetRequest

if TYPE_CHECKING:
    from shared.ledger import LedgerRecord

# Domain separation: these purposes sign nothing else with the same key.
_WORK_ITEM = b"mfa-reset/work-item/v2\n"
_SWEEP_PAGE = b"mfa-reset/sweep-page/v2\n"
# How long a work item may be acted on after admission: a queue message lives 7 days (the
# service's default, which the output bindings keep), so a genuine item is never older; an
# older one was copied and put back, or re-driven from a row past its time.
WORK_ITEM_LIFETIME = timedelta(days=7)


def admission_time(now: datetime) -> datetime:
    """``now`` as the ledger keeps it and the signature covers it: UTC, whole milliseconds
    (what every table store returns unchanged)."""
    now = now.astimezone(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class WorkItemCaller(BaseModel):
    """Who called, as admission recorded it: the client application, and for a delegated
    token the signed-in user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    authenticated_by: str
    app_id: str | None = None
    name: str | None = None
    user_id: str | None = None
    user_name: str | None = None


class WorkItem(BaseModel):
    """The queue message for an admitted reset, signed at admission.

    It carries the new phone number, which the ledger keeps only masked; the queue deletes the
    message once the reset has run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    reset_id: str
    request: ResetRequest
    user_id: str = Field(min_length=1, max_length=64)
    admitted_at: datetime
    caller: WorkItemCaller
    sweep_group_id: str | None = None
    # A held reset runs no earlier than this: the user was told and may stop it meanwhile.
    hold_until: datetime | None = None
    signature: str = Field(default="", pattern=r"^(?:[0-9a-f]{64})?$")

    @field_validator("admitted_at", "hold_until")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("must carry a time zone")
        return value.astimezone(UTC)

    def canonical(self) -> bytes:
        body = self.model_dump(mode="json", exclude={"signature"})
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def signed(self, keyring: Keyring) -> WorkItem:
        return self.model_copy(update={"signature": keyring.sign(_WORK_ITEM, self.canonical())})

    def genuine(self, keyring: Keyring) -> bool:
        return bool(self.signature) and keyring.verify(_WORK_ITEM, self.canonical(), self.signature)

    def expired(self, now: datetime) -> bool:
        return now - self.admitted_at > WORK_ITEM_LIFETIME

    def __repr__(self) -> str:
        return f"WorkItem(reset_id={self.reset_id!r})"


def caller_of(record: LedgerRecord) -> WorkItemCaller:
    return WorkItemCaller.model_validate(record.caller or {"authenticated_by": "unknown"})


def work_item(record: LedgerRecord, request: ResetRequest) -> str:
    """The queue message for an admitted reset, from its row and the signature made at
    admission. Only the row's own values (as admitted) carry that signature: the worker
    verifies it, so a row changed since, or another request under this id, is refused.
    """
    if record.signature is None or record.user_id is None:
        raise ValueError(f"reset {record.id} was never signed and cannot be queued")
    item = WorkItem(
        reset_id=record.id,
        request=request,
        user_id=record.user_id,
        admitted_at=record.accepted_at,
        caller=caller_of(record),
        sweep_group_id=record.sweep_group_id,
        hold_until=record.hold_until,
        signature=record.signature,
    )
    return item.model_dump_json()


def mismatch(item: WorkItem, record: LedgerRecord) -> str | None:
    """The first column of the row that no longer says what the signed item says, if any."""
    request = item.request
    checks: list[tuple[str, Any, Any]] = [
        ("UserId", item.user_id.lower(), (record.user_id or "").lower()),
        ("AcceptedAt", item.admitted_at, admission_time(record.accepted_at)),
        ("caller", item.caller, caller_of(record)),
        ("SweepGroupId", item.sweep_group_id, record.sweep_group_id),
        ("HoldUntil", item.hold_until, _at(record.hold_until)),
        ("Target", request.user, record.target),
        ("TicketId", request.ticket_id, record.ticket_id),
        ("RequestedBy", request.requested_by, record.requested_by),
    ]
    for column, signed, stored in checks:
        if signed != stored:
            return column
    return None


def _at(moment: datetime | None) -> datetime | None:
    return admission_time(moment) if moment is not None else None


def sign_sweep_page(keyring: Keyring, page: bytes) -> str:
    """The signature of a page of a group sweep (its canonical JSON): the page worker admits
    only members a scheduled run of this app listed, never a list someone wrote to the queue."""
    return keyring.sign(_SWEEP_PAGE, page)


def verify_sweep_page(keyring: Keyring, page: bytes, signature: str) -> bool:
    return keyring.verify(_SWEEP_PAGE, page, signature)
