"""A stand-in for Entra ID as the issuer of callers' access tokens.

The app verifies a caller's token itself: signature against the tenant's published keys
(``{authority}/{tenant}/discovery/v2.0/keys``), issuer, audience, expiry, app roles. This
module keeps an RSA key pair the way Entra does, publishes the public half as a JWKS, and
mints tokens shaped like Entra's v1.0 and v2.0 application tokens, including the wrong ones a
test needs (expired, another audience or issuer, signed by a key nobody published).
"""

from __future__ import annotations

import functools
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

CALLER_TENANT_ID = "a6f1d5c2-3b4e-4f70-9c1d-2e8b7f6a5d40"
API_CLIENT_ID = "3c9e7a1b-5d2f-4e8a-9b6c-1f0d2e3a4b5c"  # the app registration callers ask for


class _Key:
    def __init__(self) -> None:
        self.kid = uuid.uuid4().hex
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}


@functools.cache
def _process_key(name: str) -> _Key:
    """RSA keys take a while to make; emulators of one test process share theirs."""
    return _Key()


class EntraTokens:
    """Signing keys of one tenant, and tokens for callers of the app's API."""

    def __init__(self, tenant_id: str = CALLER_TENANT_ID) -> None:
        self.tenant_id = tenant_id
        self._rotated: list[_Key] = []
        self.authority = ""  # set by the emulator once it has an address
        self.jwks_requests = 0

    @property
    def _published(self) -> list[_Key]:
        return [_process_key("published"), *self._rotated]

    @property
    def _rogue(self) -> _Key:
        return _process_key("rogue")  # never published: its tokens must be refused

    @property
    def issuer(self) -> str:
        return f"{self.authority}/{self.tenant_id}/v2.0"

    @property
    def jwks_path(self) -> str:
        return f"/{self.tenant_id}/discovery/v2.0/keys"

    def jwks(self) -> dict[str, Any]:
        self.jwks_requests += 1
        return {"keys": [k.public_jwk() for k in self._published]}

    def rotate(self) -> None:
        """Publish a new signing key (Entra rolls keys): tokens signed with it carry a kid
        the app has not cached yet."""
        self._rotated.append(_Key())

    def issue(
        self,
        *roles: str,
        app_id: str = "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41",
        audience: str | None = None,
        issuer: str | None = None,
        expires_in: int = 3600,
        signed_by: str = "published",
        version: str = "2.0",
        **claims: Any,
    ) -> str:
        """An application (client credentials) access token for the app's API.

        ``signed_by``: ``published`` (the newest published key) or ``rogue`` (a key nobody
        published).
        """
        now = int(time.time())
        key = self._published[-1] if signed_by == "published" else self._rogue
        body: dict[str, Any] = {
            "aud": audience or (API_CLIENT_ID if version == "2.0" else f"api://{API_CLIENT_ID}"),
            "iss": issuer or self.issuer,
            "iat": now - 5,
            "nbf": now - 5,
            "exp": now + expires_in,
            "tid": self.tenant_id,
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, app_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, app_id)),
            "ver": version,
            ("azp" if version == "2.0" else "appid"): app_id,
            "roles": list(roles),
            **claims,
        }
        if not roles:
            body.pop("roles")
        return jwt.encode(body, key.private, algorithm="RS256", headers={"kid": key.kid})
