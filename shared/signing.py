"""Signed work items: the queue worker acts only on what the app itself admitted.

Anyone with write access to the storage queue (a storage data-plane role, a leaked connection
string) could otherwise put a message there naming a pending reset's id with another user and
their own phone number. So at admission the app signs the full request (the new phone number
unmasked included) with a key only it holds; the signature is kept on the ledger row and
carried in the message, and the worker runs a message only when the request it carries has
that signature under the app's key. An unkeyed hash would not do: a phone number is a small
space, and the ledger's readers could recover it from its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import SecretStr

from shared.models import ResetMessage, ResetRequest

if TYPE_CHECKING:
    from shared.ledger import LedgerRecord

# Domain separation: this key signs nothing else with the same bytes.
_PURPOSE = b"mfa-reset/work-item/v1\n"


def _canonical(reset_id: str, request: ResetRequest) -> bytes:
    body = {"reset_id": reset_id, "request": request.model_dump(mode="json")}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign_work_item(key: SecretStr, reset_id: str, request: ResetRequest) -> str:
    secret = key.get_secret_value().encode()
    return hmac.new(secret, _PURPOSE + _canonical(reset_id, request), hashlib.sha256).hexdigest()


def verify_work_item(
    keys: Sequence[SecretStr], reset_id: str, request: ResetRequest, signature: str
) -> bool:
    """True when ``signature`` is the request's under any of the keys (current, previous)."""
    return any(
        hmac.compare_digest(sign_work_item(key, reset_id, request), signature) for key in keys
    )


def work_item(record: LedgerRecord, request: ResetRequest) -> str:
    """The queue message for an admitted reset, carrying the signature made at admission.

    Only the row's own request (the submission, or the ledger's copy of it) carries that
    signature; the worker recomputes it, so any other request under this id is refused.
    """
    if record.signature is None:
        raise ValueError(f"reset {record.id} was never signed and cannot be queued")
    return ResetMessage(
        reset_id=record.id, request=request, signature=record.signature
    ).model_dump_json()


_SWEEP_PURPOSE = b"mfa-reset/sweep-page/v1\n"


def sign_sweep_page(key: SecretStr, page: bytes) -> str:
    """The signature of a page of a group sweep (its canonical JSON): the page worker admits
    only members a scheduled run of this app listed, never a list someone wrote to the queue."""
    secret = key.get_secret_value().encode()
    return hmac.new(secret, _SWEEP_PURPOSE + page, hashlib.sha256).hexdigest()


def verify_sweep_page(keys: Sequence[SecretStr], page: bytes, signature: str) -> bool:
    return any(hmac.compare_digest(sign_sweep_page(key, page), signature) for key in keys)
