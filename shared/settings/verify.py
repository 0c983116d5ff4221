"""The settings of proof before reset: Microsoft Entra Verified ID and Face Check.

With them, the person who will hold the new factor proves they are the user (their credential,
and their live face against its photo) before anything is changed; without an authority and
accepted issuers, no request can ask for it.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

VERIFIED_ID_BASE_URL = "https://verifiedid.did.msidentity.com/v1.0"

RequireVerification = Annotated[
    bool,
    Field(
        default=False,
        description="Every reset a caller submits must be proven by the user with Verified ID "
        "first; scheduled sweeps (admin-driven) are exempt.",
    ),
]
VerifiedIdBaseUrl = Annotated[
    str,
    Field(
        default=VERIFIED_ID_BASE_URL,
        description="The Verified ID Request Service, with its version segment.",
    ),
]
VerifiedIdAuthority = Annotated[
    str | None,
    Field(
        default=None,
        pattern=r"^did:[a-z0-9]+:\S+$",
        description="The verifier's DID (the Verified ID blade's authority, did:web:...).",
    ),
]
CredentialTypes = Annotated[
    tuple[str, ...],
    Field(
        default=("VerifiedEmployee",),
        description="Comma-separated credential types a user may present: VerifiedEmployee, "
        "or an identity-verification partner's type (VerifiedIdentity).",
    ),
]
AcceptedIssuers = Annotated[
    tuple[str, ...],
    Field(
        default=(),
        description="Comma-separated issuer DIDs whose credentials are accepted; required (an "
        "empty list would accept any issuer).",
    ),
]
FaceCheckThreshold = Annotated[
    int,
    Field(
        default=70,
        ge=50,
        le=100,
        description="Face Check's match confidence a presentation must reach (50-100).",
    ),
]
NameMatch = Annotated[
    Literal["exact", "relaxed"],
    Field(
        default="exact",
        description="How a partner credential's first and last name must match the directory's "
        "givenName and surname (after case, accents and spacing are set aside): exact, or "
        "relaxed (surname exact, one first name a prefix of the other: Alex, Alexander).",
    ),
]
VerificationAttempts = Annotated[
    int,
    Field(
        default=3,
        ge=1,
        le=10,
        description="Failed or expired presentations allowed before the reset ends failed.",
    ),
]
