"""The ledger's seal: a MAC over the columns that decide what happens to a reset.

The ledger lives in a table that more than the app may be able to write (a storage data-plane
role). A writer there could flip a finished reset back to "failed, retryable" and have the
scheduled run re-drive it, reset its re-drive count, mark a never-counted row admitted, or write
an outcome that makes a resumed attempt skip a method. So every write the app makes to those
columns also writes ``StateMac``, an HMAC under the app's signing key (its own purpose), and
whatever acts on a row (a claim, a re-drive) first checks that the row's state is one the app
wrote. The same key makes the idempotency fingerprint: keyed, so the full request (phone number
and callback URL included) can be compared without a digest anyone could reverse.

The seal is given to the ledger (``Ledger(table, seal=...)``); by default it reads the process's
settings when it is first needed, so reading a status never needs the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from shared.keyring import Keyring
from shared.models import ResetRequest
from shared.settings import get_settings

_STATE = b"mfa-reset/ledger-row-state/v1\n"
_FINGERPRINT = b"mfa-reset/request-fingerprint/v1\n"

# The sealed columns, and how each is read back into the form the MAC covers.
SEALED_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "Status": lambda v: str(v) if v is not None else None,
    "Attempts": lambda v: int(v or 0),
    "Redrives": lambda v: int(v or 0),
    "Retryable": lambda v: bool(v),
    "Admitted": lambda v: True if v is None else bool(v),
    "UserId": lambda v: str(v).lower() if v else None,
    # The outcome is sealed by its digest: the MAC input stays small.
    "Outcome": lambda v: hashlib.sha256(str(v).encode()).hexdigest() if v else None,
    "Signature": lambda v: str(v) if v else None,
}


def sealed_state(columns: Mapping[str, Any], *, partial: bool = False) -> dict[str, Any]:
    """The sealed columns of a row (or, ``partial``, of a write: only those it sets)."""
    return {
        name: read(columns.get(name))
        for name, read in SEALED_COLUMNS.items()
        if not partial or name in columns
    }


class RowSeal:
    """MACs over a row's sealed state and the keyed fingerprint of a request."""

    def __init__(self, keyring: Callable[[], Keyring] | None = None) -> None:
        self._keyring = keyring or (lambda: get_settings().keyring())

    @staticmethod
    def _state_bytes(reset_id: str, state: Mapping[str, Any]) -> bytes:
        body = {"id": reset_id, **state}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def state_mac(self, reset_id: str, state: Mapping[str, Any]) -> str:
        return self._keyring().sign(_STATE, self._state_bytes(reset_id, state))

    def genuine(self, reset_id: str, state: Mapping[str, Any], mac: str | None) -> bool:
        """Whether the app wrote this state (under the current or the previous key)."""
        if not mac:
            return False
        return self._keyring().verify(_STATE, self._state_bytes(reset_id, state), mac)

    @staticmethod
    def _request_bytes(request: ResetRequest) -> bytes:
        # The full request: a phone number or callback path that differs is another request.
        body = request.model_dump(mode="json")
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def fingerprint(self, request: ResetRequest) -> str:
        """What tells a replay from a different request under the same idempotency entry."""
        return self._keyring().sign(_FINGERPRINT, self._request_bytes(request))

    def fingerprints(self, request: ResetRequest) -> frozenset[str]:
        """The fingerprint under every key: an entry written before a rotation still matches."""
        return self._keyring().signatures(_FINGERPRINT, self._request_bytes(request))
