"""The app's signing keys and the one way it signs with them: HMAC-SHA256 under a purpose.

Everything the app must later trust after it passed through storage anyone with a data-plane
role can write (a work item, a sweep page, a ledger row's state, a callback message) is signed
with the same key family. Each use has its own purpose string, prefixed to what is signed, so a
signature made for one use never verifies for another. The first key signs; every key verifies,
so a rotated key (``WORK_ITEM_SIGNING_KEY_PREVIOUS``) still vouches for what it signed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from pydantic import SecretStr


class Keyring:
    def __init__(self, keys: Sequence[SecretStr]) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self._keys = tuple(k.get_secret_value().encode() for k in keys)

    def sign(self, purpose: bytes, data: bytes) -> str:
        """The signature under the current key."""
        return self._mac(self._keys[0], purpose, data)

    def signatures(self, purpose: bytes, data: bytes) -> frozenset[str]:
        """The signature under each key: what a value signed before a rotation may carry."""
        return frozenset(self._mac(key, purpose, data) for key in self._keys)

    def verify(self, purpose: bytes, data: bytes, signature: str) -> bool:
        """Whether ``signature`` is ``data``'s under any key (compared in constant time)."""
        return any(
            hmac.compare_digest(self._mac(key, purpose, data), signature) for key in self._keys
        )

    @staticmethod
    def _mac(key: bytes, purpose: bytes, data: bytes) -> str:
        return hmac.new(key, purpose + data, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return f"Keyring({len(self._keys)} key(s))"
