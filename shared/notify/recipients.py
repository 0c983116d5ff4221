"""Who is told about a reset: channels the requester of a fraudulent reset does not control.

NIST SP 800-63B-4 asks that recovery and the binding of a new authenticator be notified at all
of the subscriber's notification addresses, independently of the transaction. Here that is the
user's own mailbox (still open on a signed-in laptop), the email authentication method the user
registered for self-service password reset (often personal, and deleted by the reset, so read
before it), and the manager's mailbox. Each is read on its own: one failing read skips that
recipient, with the reason, and never stops the reset.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from shared.graph.contract import Contact, DirectoryUser, GraphError, Mailer
from shared.models import Recipient

T = TypeVar("T")


@dataclass(frozen=True)
class Address:
    """A recipient with an address to send to, or the reason there is none."""

    recipient: Recipient
    address: str | None
    reason: str | None = None
    name: str | None = None  # how to greet them (the manager by their own name)


async def find_addresses(mailer: Mailer, user: DirectoryUser) -> list[Address]:
    """The three recipients, in a fixed order, read together (one round trip)."""
    methods, manager = await asyncio.gather(
        _read(mailer.email_method_addresses(user.id)),
        _read(mailer.manager(user.id)),
    )
    found = [_mailbox(user), _email_method(methods, user), _manager(manager)]
    # One mail per address: the SSPR address is often the mailbox itself.
    seen: set[str] = set()
    unique = []
    for entry in found:
        key = (entry.address or "").lower()
        if key and key in seen:
            entry = Address(entry.recipient, None, "the same address as another recipient")
        seen.add(key)
        unique.append(entry)
    return unique


async def _read(call: Awaitable[T]) -> T | GraphError:
    """A read's answer, or its failure as a value: one recipient's read must not stop the
    others."""
    try:
        return await call
    except GraphError as exc:
        return exc


def _mailbox(user: DirectoryUser) -> Address:
    if user.is_guest:
        return Address(Recipient.mailbox, None, "guest: the mailbox is in the home tenant")
    if not user.mail:
        return Address(Recipient.mailbox, None, "no mailbox")
    return Address(Recipient.mailbox, user.mail)


def _email_method(found: object, user: DirectoryUser) -> Address:
    if isinstance(found, GraphError):
        return Address(Recipient.email_method, None, f"could not read: {_why(found)}")
    addresses = found if isinstance(found, list) else []
    if not addresses:
        return Address(Recipient.email_method, None, "none registered")
    return Address(Recipient.email_method, str(addresses[0]))


def _manager(found: object) -> Address:
    if isinstance(found, GraphError):
        return Address(Recipient.manager, None, f"could not read: {_why(found)}")
    if not isinstance(found, Contact):
        return Address(Recipient.manager, None, "none")
    if (found.user_type or "").lower() == "guest":
        return Address(Recipient.manager, None, "guest")
    if not found.mail:
        return Address(Recipient.manager, None, "no mailbox")
    return Address(Recipient.manager, found.mail, name=found.display_name)


def _why(exc: GraphError) -> str:
    return f"Graph {exc.status or 'no response'} {exc.code}"
