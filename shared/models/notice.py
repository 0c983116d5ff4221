"""Notifying the user: what a status read shows of the notifications and of a dispute.

Addresses are shown masked (``j***@contoso.com``): enough to recognise which mailbox was told,
not a list of personal addresses for everyone who may read a reset's status.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class NoticeStage(StrEnum):
    accepted = "accepted"  # the reset was accepted (and, with a hold, when it will run)
    finished = "finished"  # the reset ended: what was removed and added


class Recipient(StrEnum):
    mailbox = "mailbox"  # the user's own mailbox
    email_method = "email-method"  # the user's registered email authentication method
    manager = "manager"  # the user's manager's mailbox


class NoticeResult(StrEnum):
    sent = "sent"  # Graph accepted the mail (202)
    skipped = "skipped"  # no address to send to (none, guest, no mailbox)
    failed = "failed"  # Graph refused or stayed unavailable


class NotificationView(BaseModel):
    """One notification to one recipient."""

    model_config = ConfigDict(extra="forbid")

    stage: NoticeStage = Field(description="accepted or finished: which of the two mails.")
    recipient: Recipient = Field(
        description="mailbox (the user's), email-method (the user's registered email "
        "authentication method, read before the reset) or manager."
    )
    address: str | None = Field(default=None, description="The address, masked (j***@x.com).")
    result: NoticeResult = Field(description="sent, skipped or failed.")
    reason: str | None = Field(default=None, description="Why it was skipped or failed.")


class DisputeView(BaseModel):
    """Someone who received a notification said the reset was not theirs."""

    model_config = ConfigDict(extra="forbid")

    at: datetime = Field(description="When the reset was disputed.")
    recipient: Recipient = Field(description="Whose notification's link was used.")


def mask_address(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"
