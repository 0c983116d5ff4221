"""The "this wasn't me" link: an unguessable token, bound to one reset and one recipient.

The token is 256 random bits (more than NIST's 112 for a binding code) and lives in the mail
only; the ledger keeps a keyed digest of it together with the reset's id and the recipient, so
the ledger's readers cannot rebuild a link, and a token presented for another reset or another
recipient has no digest on record. A link is for one purpose (stopping or disputing one reset),
expires, and works once.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from shared.keyring import Keyring

_LINK = b"mfa-reset/notice-link/v1\n"
# As long as a reset may wait in the queue: a dispute after the reset ran stays possible a week.
LINK_LIFETIME = timedelta(days=7)
ROUTE = "notices"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(keyring: Keyring, reset_id: str, recipient: str, token: str) -> str:
    return keyring.sign(_LINK, f"{reset_id}|{recipient}|{token}".encode())


def digests(keyring: Keyring, reset_id: str, recipient: str, token: str) -> frozenset[str]:
    """Under every key: a link mailed before a key rotation still works."""
    return keyring.signatures(_LINK, f"{reset_id}|{recipient}|{token}".encode())


def link_url(base_url: str, reset_id: str, recipient: str, token: str) -> str:
    return f"{base_url}/api/{ROUTE}/{reset_id}/{recipient}/{token}"
