"""The link to the user's page: derived, not stored, bound to one reset, for one purpose.

The token is the app's keyed MAC of the reset's id under a purpose of its own, so the ledger
keeps nothing a reader could use to open the page (and a key rotation keeps old links working
while the previous key verifies); it expires with the reset's wait for proof. The page only
starts a presentation: what it guards is the chance to prove, not the proof.
"""

from __future__ import annotations

from datetime import timedelta

from shared.keyring import Keyring

_LINK = b"mfa-reset/verify-link/v1\n"
_API_KEY = b"mfa-reset/verify-callback-key/v1\n"
# How long the user has to prove who they are before the reset ends failed.
PROOF_WINDOW = timedelta(days=1)
ROUTE = "verify"
CALLBACK_ROUTE = "verify-callback"


def token(keyring: Keyring, reset_id: str) -> str:
    return keyring.sign(_LINK, reset_id.encode())


def genuine(keyring: Keyring, reset_id: str, presented: str) -> bool:
    return keyring.verify(_LINK, reset_id.encode(), presented)


def page_url(base_url: str, keyring: Keyring, reset_id: str) -> str:
    return f"{base_url}/api/{ROUTE}/{reset_id}/{token(keyring, reset_id)}"


def callback_url(base_url: str) -> str:
    return f"{base_url}/api/{CALLBACK_ROUTE}"


def api_key_digest(keyring: Keyring, request_id: str, api_key: str) -> str:
    """What the ledger keeps of a request's callback key: a keyed digest, bound to the request."""
    return keyring.sign(_API_KEY, f"{request_id}|{api_key}".encode())


def api_key_matches(keyring: Keyring, request_id: str, api_key: str, digest: str) -> bool:
    return keyring.verify(_API_KEY, f"{request_id}|{api_key}".encode(), digest)
