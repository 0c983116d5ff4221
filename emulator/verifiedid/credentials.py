"""Verifiable credentials as a wallet holds them, and the entry a verified presentation
reports for one (``verifiedCredentialsData[]``).

Two kinds matter to an MFA reset:

* ``VerifiedEmployee``, issued by the tenant's own Verified ID authority from the Entra user
  (``how-to-use-quickstart-verifiedemployee.md``): the claim set is fixed, ``revocationId``
  is the userPrincipalName, ``photo`` is UrlEncode(Base64(JPEG)) of the profile photo. A claim
  whose directory attribute is unset is left out (UNCONFIRMED: the page does not say).
* ``VerifiedIdentity`` from an identity-verification partner (government ID + selfie), whose
  photo claim is ``portrait`` (the claim Entra account recovery matches the face against,
  Graph ``faceCheckConfiguration.sourcePhotoClaimName``) with ``firstName``/``lastName``.

The photos are a few made-up bytes with a JPEG's start and end markers: no face is matched
here, the score is what the test says it is.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from .._common import iso, stable_guid, utcnow
from ..model import User

EMPLOYEE_TYPE = "VerifiedEmployee"
IDENTITY_TYPE = "VerifiedIdentity"
# VerifiedEmployee's claims and the Entra user property each comes from.
_EMPLOYEE_CLAIMS = {
    "displayName": "displayName",
    "givenName": "givenName",
    "surname": "surname",
    "jobTitle": "jobTitle",
    "preferredLanguage": "preferredLanguage",
    "mail": "mail",
}


@dataclass
class Credential:
    """One credential in the wallet. ``photo_claim`` names the claim holding the holder's
    photo (never reported to the verifier by the emulator); ``holder`` is the wallet's DID,
    reported as the presentation's ``subject``."""

    type: str
    issuer: str
    claims: dict[str, str]
    photo_claim: str | None = None
    revoked: bool = False
    issued_at: datetime = field(default_factory=lambda: utcnow() - timedelta(days=30))
    expires_at: datetime = field(default_factory=lambda: utcnow() + timedelta(days=180))
    holder: str = ""

    def __post_init__(self) -> None:
        if not self.holder:
            self.holder = holder_did(self.type, self.issuer, self.claims)

    @property
    def expired(self) -> bool:
        return self.expires_at <= datetime.now(UTC)

    def entry(self, face_score: float | None) -> dict[str, Any]:
        """This credential as ``presentation_verified`` lists it, with Face Check's result
        when one was asked for; the photo claim is left out (UNCONFIRMED: the docs' example
        shows no photo claim, and a verifier that never sees it cannot leak it)."""
        claims = {k: v for k, v in self.claims.items() if k != self.photo_claim}
        entry: dict[str, Any] = {
            "issuer": self.issuer,
            "type": ["VerifiableCredential", self.type],
            "claims": claims,
            "credentialState": {"revocationStatus": "REVOKED" if self.revoked else "VALID"},
        }
        domain = linked_domain(self.issuer)
        if domain is not None:
            entry["domainValidation"] = {"url": domain}
        entry["issuanceDate"] = iso(self.issued_at)
        entry["expirationDate"] = iso(self.expires_at)
        if face_score is not None:
            entry["faceCheck"] = {"matchConfidenceScore": face_score, "sourcePhotoQuality": "HIGH"}
        return entry


def linked_domain(issuer: str) -> str | None:
    """The linked domain of a ``did:web`` issuer (``did:web:verifiedid.contoso.com`` ->
    ``https://verifiedid.contoso.com/``); other DID methods carry none here."""
    if not issuer.startswith("did:web:"):
        return None
    host = issuer[len("did:web:") :].split(":", 1)[0]
    return f"https://{urlsplit('//' + host).hostname}/"


def fake_photo(seed: str) -> str:
    """UrlEncode(Base64(JPEG)) of a few bytes that start and end like a JPEG."""
    jpeg = b"\xff\xd8\xff\xe0" + hashlib.sha256(seed.encode()).digest() + b"\xff\xd9"
    return quote(base64.b64encode(jpeg).decode(), safe="")


def employee_credential(
    user: User,
    issuer: str,
    *,
    revoked: bool = False,
    expires_at: datetime | None = None,
    issued_at: datetime | None = None,
) -> Credential:
    """The VerifiedEmployee credential the tenant's authority ``issuer`` gave ``user``."""
    profile = user.to_json()
    claims = {"revocationId": user.user_principal_name}
    for claim, prop in _EMPLOYEE_CLAIMS.items():
        value = profile.get(prop)
        if isinstance(value, str) and value:
            claims[claim] = value
    claims["photo"] = fake_photo(user.id)
    return _credential(EMPLOYEE_TYPE, issuer, claims, "photo", revoked, expires_at, issued_at)


def identity_credential(
    first_name: str,
    last_name: str,
    issuer: str,
    *,
    date_of_birth: str | None = None,
    revoked: bool = False,
    expires_at: datetime | None = None,
    issued_at: datetime | None = None,
) -> Credential:
    """A VerifiedIdentity credential an identity-verification partner ``issuer`` gave the
    person named on their government ID."""
    claims = {"firstName": first_name, "lastName": last_name}
    if date_of_birth is not None:
        claims["dateOfBirth"] = date_of_birth
    claims["portrait"] = fake_photo(f"{first_name} {last_name} {date_of_birth}")
    return _credential(IDENTITY_TYPE, issuer, claims, "portrait", revoked, expires_at, issued_at)


def _credential(
    kind: str,
    issuer: str,
    claims: dict[str, str],
    photo_claim: str,
    revoked: bool,
    expires_at: datetime | None,
    issued_at: datetime | None,
) -> Credential:
    now = utcnow()
    return Credential(
        type=kind,
        issuer=issuer,
        claims=claims,
        photo_claim=photo_claim,
        revoked=revoked,
        issued_at=issued_at or now - timedelta(days=30),
        expires_at=expires_at or now + timedelta(days=180),
        holder=holder_did(kind, issuer, claims),
    )


def holder_did(kind: str, issuer: str, claims: dict[str, str]) -> str:
    """A wallet DID that stays the same for the same credential, so runs are repeatable."""
    return "did:ion:" + stable_guid(kind, issuer, *sorted(claims.values())).replace("-", "")
