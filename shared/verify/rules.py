"""Whether a presentation proves that the person presenting is this reset's user.

Verified ID checks signatures, revocation, the linked domain and the face; it does not know
which user a helpdesk reset is for. So a presentation counts only when every rule below holds,
and the first that fails is named (the ledger and the audit event say which; the user's page
says it in plain words):

* ``issuer``: the credential's issuer is one of ``VERIFIED_ID_ACCEPTED_ISSUERS``;
* ``type``: its type is one of ``VERIFIED_ID_CREDENTIAL_TYPES``;
* ``subject``: it is the user's: a VerifiedEmployee's ``revocationId`` is the user's UPN; a
  partner's credential's first and last name match the directory's ``givenName`` and
  ``surname`` (case, accents, punctuation and spacing set aside; ``relaxed`` lets a first name
  be a prefix of the other);
* ``face-check``: Face Check's match confidence reached the threshold (a low score arrives as a
  ``presentation_error`` with ``claimValidationError``, and no score at all fails too);
* ``revoked`` and ``expired``: the credential is neither.

Only the issuer, the type, the names of the claims compared and the score are kept: never the
photo, never another claim's value.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.settings import Settings

PLAIN = {
    "issuer": "the credential was not issued by an issuer your organisation accepts",
    "type": "the credential is not of a kind your organisation accepts",
    "subject": "the credential belongs to someone else, or its name does not match your account",
    "face-check": "the face did not match the credential's photo closely enough",
    "revoked": "the credential has been revoked",
    "expired": "the credential has expired",
    "presentation-error": "Verified ID could not complete the check",
    "no-credential": "no credential was presented",
}


@dataclass(frozen=True)
class Subject:
    """Who the reset is for, as the directory says now."""

    upn: str
    given_name: str | None
    surname: str | None


@dataclass(frozen=True)
class Verdict:
    rule: str | None  # None: proven
    issuer: str | None = None
    type: str | None = None
    claims: tuple[str, ...] = ()
    score: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def proven(self) -> bool:
        return self.rule is None

    def record(self) -> dict[str, Any]:
        """What the ledger and the audit event keep: no claim values, no photo."""
        return {
            "rule": self.rule,
            "issuer": self.issuer,
            "type": self.type,
            "claims_compared": list(self.claims),
            "score": self.score,
        }


def normalise(name: str | None) -> str:
    """Case, accents, punctuation and spacing set aside: "José-Luis  Núñez" = "jose luis nunez"."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    spaced = "".join(c if c.isalnum() else " " for c in letters.casefold())
    return " ".join(spaced.split())


def _names_match(first: str | None, last: str | None, subject: Subject, relaxed: bool) -> bool:
    given, surname = normalise(subject.given_name), normalise(subject.surname)
    first_n, last_n = normalise(first), normalise(last)
    if not (given and surname and first_n and last_n) or last_n != surname:
        return False
    if first_n == given:
        return True
    return relaxed and (first_n.startswith(given) or given.startswith(first_n))


def judge(event: dict[str, Any], subject: Subject, settings: Settings, now: datetime) -> Verdict:
    """The verdict on a ``presentation_verified`` callback's first credential."""
    credentials = event.get("verifiedCredentialsData") or []
    if not credentials:
        return Verdict("no-credential")
    data = credentials[0]
    issuer = str(data.get("issuer") or "")
    types = [str(t) for t in data.get("type") or []]
    kind = next((t for t in types if t in settings.verified_id_credential_types), None)
    claims = data.get("claims") or {}
    face = data.get("faceCheck") or {}
    score = face.get("matchConfidenceScore")
    seen_type = kind or (types[-1] if types else None)

    def verdict(
        rule: str | None, claims: tuple[str, ...] = (), score: float | None = None
    ) -> Verdict:
        return Verdict(rule, issuer or None, seen_type, claims, score)

    if issuer not in settings.verified_id_accepted_issuers:
        return verdict("issuer")
    if kind is None:
        return verdict("type")
    if kind == "VerifiedEmployee":
        compared: tuple[str, ...] = ("revocationId",)
        mine = str(claims.get("revocationId") or "").lower() == subject.upn.lower()
    else:
        compared = ("firstName", "lastName")
        mine = _names_match(
            claims.get("firstName"),
            claims.get("lastName"),
            subject,
            settings.verified_id_name_match == "relaxed",
        )
    if not mine:
        return verdict("subject", compared)
    if score is None or float(score) < settings.face_check_threshold:
        return verdict("face-check", compared, float(score) if score is not None else None)
    state = str((data.get("credentialState") or {}).get("revocationStatus") or "").upper()
    if state != "VALID":
        return verdict("revoked", compared, float(score))
    expires = data.get("expirationDate")
    if expires and _parse(expires) <= now:
        return verdict("expired", compared, float(score))
    return verdict(None, compared, float(score))


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
