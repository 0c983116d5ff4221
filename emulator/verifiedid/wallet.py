"""The person with the phone: a wallet tests drive to answer a presentation request, and the
callbacks the request service would POST to the app as a result.

:meth:`Wallet.present` returns the callbacks, in the order the service sends them, and
:meth:`Wallet.deliver` POSTs them; keeping the two apart lets a test reorder, repeat or drop
callbacks. What each outcome produces (``presentation-request-api.md`` and
``using-facecheck.md`` for the shapes):

* a request past its expiry: nothing. No expiry or timeout event is documented; a request the
  user never opens simply stops existing, so the app learns nothing from the service;
* :meth:`Wallet.open`: only ``request_retrieved`` (the user scanned the code and went no
  further, or Authenticator found no matching credential and the user gave up);
* :meth:`Wallet.present`: ``request_retrieved``, then one of
  * ``presentation_verified`` with ``subject`` (the wallet's DID), ``state`` echoed and
    ``verifiedCredentialsData[]`` (issuer, ``type`` ``["VerifiableCredential", type]``,
    claims without the photo, ``credentialState.revocationStatus``, ``domainValidation``
    for a ``did:web`` issuer, ``issuanceDate``, ``expirationDate`` and, with Face Check,
    ``faceCheck{matchConfidenceScore, sourcePhotoQuality}``);
  * ``presentation_error`` with ``error{code, message}``. Documented: a Face Check score
    below the request's ``matchConfidenceThreshold`` (default 70) is ``claimValidationError``
    "Match confidence score failing to meet the threshold.", with no score. Not documented
    (UNCONFIRMED; the docs list no other codes, and Authenticator would usually not even offer
    such a credential, so only ``request_retrieved`` would arrive): a type the request did not
    ask for is ``credentialTypeNotRequested``; an issuer outside a non-empty
    ``acceptedIssuers`` is ``issuerNotAccepted``; an unmatched constraint (any of ``values``,
    ``contains``, ``startsWith``, case-insensitive, all constraints must hold) is
    ``claimValidationError``; a revoked credential without ``allowRevoked`` is
    ``credentialRevoked``; an expired one ``credentialExpired``; a credential without the
    ``sourcePhotoClaimName`` claim ``claimValidationError``. An app must treat every
    ``presentation_error`` as a failure, whatever its code.

``force=True`` skips the service's own checks (type, issuer, constraints, revocation,
expiry, the photo claim) and reports the credential as verified anyway, revoked or expired
state included, so that the app's own checks of issuer, type, the user's UPN or name, expiry
and revocation can be tested; the Face Check threshold still applies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from ..model import User
from ..tenant import Tenant
from .credentials import Credential, employee_credential, identity_credential
from .presentation import PresentationRequest
from .validation import face_check_of

FACE_CHECK_FAILED = "Match confidence score failing to meet the threshold."


@dataclass(frozen=True)
class Callback:
    """One POST the service would make: to the request's ``callback.url``, with its
    ``callback.headers`` (the app's ``api-key``) and this JSON body."""

    url: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def status(self) -> str:
        return str(self.body["requestStatus"])


class Wallet:
    """Credentials for the users of ``tenant``, and presentations to the requests that
    ``lookup`` finds by id (the service's)."""

    def __init__(self, tenant: Tenant, lookup: Callable[[str], PresentationRequest]) -> None:
        self._tenant = tenant
        self._lookup = lookup

    def employee_credential(
        self,
        user: User | str,
        issuer: str,
        *,
        revoked: bool = False,
        expires_at: datetime | None = None,
    ) -> Credential:
        """A VerifiedEmployee credential for a user of the tenant (a ``User``, or its UPN or
        id), issued by the authority ``issuer``."""
        if isinstance(user, str):
            found = self._tenant.user(user)
            if found is None:
                raise KeyError(f"no such user: {user}")
            user = found
        return employee_credential(user, issuer, revoked=revoked, expires_at=expires_at)

    def identity_credential(
        self,
        first_name: str,
        last_name: str,
        issuer: str,
        *,
        date_of_birth: str | None = None,
        revoked: bool = False,
        expires_at: datetime | None = None,
    ) -> Credential:
        """A VerifiedIdentity credential from the identity-verification partner ``issuer``."""
        return identity_credential(
            first_name,
            last_name,
            issuer,
            date_of_birth=date_of_birth,
            revoked=revoked,
            expires_at=expires_at,
        )

    def open(self, request_id: str) -> list[Callback]:
        """The user opens the request and goes no further: ``request_retrieved`` only (nothing
        once the request has expired)."""
        request = self._lookup(request_id)
        if request.expired:
            return []
        return [self._callback(request, {"requestStatus": "request_retrieved"})]

    def present(
        self,
        request_id: str,
        credential: Credential,
        *,
        face_score: float = 90.0,
        force: bool = False,
    ) -> list[Callback]:
        """The user opens the request and presents ``credential`` with a live selfie that
        Face Check scores ``face_score``; see the module for what comes back. A request is
        answered once: presenting to it again raises ``RuntimeError``."""
        request = self._lookup(request_id)
        if request.expired:
            return []
        if request.presented:
            raise RuntimeError(f"presentation request {request_id} was already answered")
        request.presented = True
        callbacks = [self._callback(request, {"requestStatus": "request_retrieved"})]
        wanted = _requested_for(request, credential.type, force)
        face_check = face_check_of(wanted) if wanted is not None else None
        refusal: tuple[str, str] | None = None
        if wanted is None:
            refusal = (
                "credentialTypeNotRequested",
                f"The request did not ask for a credential of type {credential.type}.",
            )
        elif not force:
            refusal = _refusal(wanted, credential, face_check)
        threshold = face_check["matchConfidenceThreshold"] if face_check is not None else None
        if refusal is None and threshold is not None and face_score < threshold:
            refusal = ("claimValidationError", FACE_CHECK_FAILED)
        if refusal is not None:
            code, message = refusal
            error = {"code": code, "message": message}
            body = {"requestStatus": "presentation_error", "error": error}
            return [*callbacks, self._callback(request, body)]
        score = face_score if face_check is not None else None
        verified = {
            "requestStatus": "presentation_verified",
            "subject": credential.holder,
            "verifiedCredentialsData": [credential.entry(score)],
        }
        return [*callbacks, self._callback(request, verified)]

    async def deliver(
        self, callbacks: list[Callback], *, duplicate: bool = False, reverse: bool = False
    ) -> list[int]:
        """POST the callbacks, one after another, on the caller's event loop (the app's
        callback endpoint may be served by that same loop in tests). ``reverse`` sends them
        last first; ``duplicate`` sends each twice in a row, as a service retrying after a
        lost answer would. Returns the HTTP statuses in sending order."""
        ordered = list(reversed(callbacks)) if reverse else list(callbacks)
        if duplicate:
            ordered = [c for callback in ordered for c in (callback, callback)]
        statuses: list[int] = []
        async with httpx.AsyncClient(timeout=30) as client:
            for callback in ordered:
                headers = {**callback.headers, "Content-Type": "application/json"}
                response = await client.post(callback.url, json=callback.body, headers=headers)
                statuses.append(response.status_code)
                await asyncio.sleep(0)
        return statuses

    def _callback(self, request: PresentationRequest, fields: dict[str, Any]) -> Callback:
        body: dict[str, Any] = {"requestId": request.request_id, **fields}
        if request.state is not None:
            body["state"] = request.state
        return Callback(request.callback_url, request.callback_headers, body)


def _requested_for(request: PresentationRequest, kind: str, force: bool) -> dict[str, Any] | None:
    """The requested credential a credential of type ``kind`` answers; with ``force`` the
    first one when none matches (so its Face Check still applies)."""
    for wanted in request.requested_credentials:
        if str(wanted["type"]).lower() == kind.lower():
            return wanted
    return request.requested_credentials[0] if force else None


def _refusal(
    wanted: dict[str, Any], credential: Credential, face_check: dict[str, Any] | None
) -> tuple[str, str] | None:
    issuers = wanted.get("acceptedIssuers") or []
    if issuers and credential.issuer not in issuers:
        return "issuerNotAccepted", f"The issuer {credential.issuer} is not accepted."
    for constraint in wanted.get("constraints") or []:
        if not _satisfies(constraint, credential.claims.get(constraint["claimName"])):
            return (
                "claimValidationError",
                f"The claim {constraint['claimName']} does not meet the request's constraint.",
            )
    validation = wanted.get("configuration", {}).get("validation", {})
    if credential.revoked and not validation.get("allowRevoked", False):
        return "credentialRevoked", "The presented credential has been revoked."
    if credential.expired:
        return "credentialExpired", "The presented credential has expired."
    if face_check is not None and face_check["sourcePhotoClaimName"] not in credential.claims:
        return (
            "claimValidationError",
            f"The credential has no claim {face_check['sourcePhotoClaimName']} to match the "
            "face against.",
        )
    return None


def _satisfies(constraint: dict[str, Any], value: str | None) -> bool:
    """A claims constraint: case-insensitive, no regular expressions (the docs' rule)."""
    if value is None:
        return False
    folded = value.casefold()
    if "values" in constraint:
        return any(folded == str(v).casefold() for v in constraint["values"])
    if "contains" in constraint:
        return str(constraint["contains"]).casefold() in folded
    return folded.startswith(str(constraint["startsWith"]).casefold())
