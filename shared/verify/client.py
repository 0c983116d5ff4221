"""Microsoft Entra Verified ID's Request Service: create a presentation request, with Face Check.

One call: ``POST {VERIFIED_ID_BASE_URL}/verifiableCredentials/createPresentationRequest`` with a
managed-identity token for the "Verifiable Credentials Service Request" service principal
(``3db474b9-6a0c-4840-96ac-1fceb342124f``, the same in every tenant), which needs the app role
``VerifiableCredential.Create.PresentRequest`` (granted by the Bicep). The answer (201) carries
the request's id, its ``openid-vc://`` URL and its expiry (about five minutes, not extendable);
results arrive only as callbacks. The request asks for exactly what the settings accept: the
credential types, the accepted issuers (never empty: empty means any issuer), no revoked
credentials, a verified linked domain, and Face Check against the credential's photo at the
configured threshold. The user's UPN constrains a VerifiedEmployee credential's
``revocationId`` so the wallet offers only the user's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.identity import get_credential
from shared.settings import Settings

if TYPE_CHECKING:
    import httpx

SCOPE = "3db474b9-6a0c-4840-96ac-1fceb342124f/.default"
# The claim holding the photo Face Check compares with, per credential type.
PHOTO_CLAIMS = {"VerifiedEmployee": "photo"}
DEFAULT_PHOTO_CLAIM = "portrait"  # identity-verification partners' credentials
TIMEOUT_SECONDS = 15.0


class VerifiedIdError(Exception):
    """The Request Service refused or could not be reached; ``code`` is its error code."""

    def __init__(self, status: int | None, code: str, target: str | None = None) -> None:
        super().__init__(f"Verified ID {status or 'no response'} {code}")
        self.status = status
        self.code = code
        self.target = target


@dataclass(frozen=True)
class Presentation:
    request_id: str
    url: str
    expiry: float  # unix seconds


def presentation_body(
    settings: Settings, upn: str, *, callback_url: str, state: str, api_key: str
) -> dict[str, Any]:
    credentials = []
    for kind in settings.verified_id_credential_types:
        credential: dict[str, Any] = {
            "type": kind,
            "acceptedIssuers": list(settings.verified_id_accepted_issuers),
            "configuration": {
                "validation": {
                    "allowRevoked": False,
                    "validateLinkedDomain": True,
                    "faceCheck": {
                        "sourcePhotoClaimName": PHOTO_CLAIMS.get(kind, DEFAULT_PHOTO_CLAIM),
                        "matchConfidenceThreshold": settings.face_check_threshold,
                    },
                }
            },
        }
        if kind == "VerifiedEmployee":
            credential["constraints"] = [{"claimName": "revocationId", "values": [upn]}]
        credentials.append(credential)
    return {
        "authority": settings.verified_id_authority,
        "includeQRCode": False,  # the page draws its own, as SVG
        "includeReceipt": False,
        "registration": {"clientName": "MFA reset", "purpose": "Prove who you are"},
        "callback": {"url": callback_url, "state": state, "headers": {"api-key": api_key}},
        "requestedCredentials": credentials,
    }


class VerifiedIdClient:
    """One HTTP client per process, created on first use."""

    def __init__(self) -> None:
        self._http: httpx.AsyncClient | None = None

    async def _client(self) -> httpx.AsyncClient:
        import httpx

        if self._http is None:  # no await before the assignment: one client per process
            self._http = httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT_SECONDS))
        return self._http

    async def create(self, settings: Settings, body: dict[str, Any]) -> Presentation:
        import httpx

        client_id = settings.managed_identity_client_id
        token = await get_credential(client_id).get_token(SCOPE)
        http = await self._client()
        url = f"{settings.verified_id_base_url}/verifiableCredentials/createPresentationRequest"
        try:
            answer = await http.post(
                url, json=body, headers={"Authorization": f"Bearer {token.token}"}
            )
        except httpx.HTTPError as exc:
            raise VerifiedIdError(None, type(exc).__name__) from None
        payload: Any = answer.json() if answer.content else {}
        if answer.status_code != 201:
            error = payload.get("error") if isinstance(payload, dict) else None
            inner = (error or {}).get("innererror") or {}
            raise VerifiedIdError(
                answer.status_code,
                str(inner.get("code") or (error or {}).get("code") or "unknown"),
                inner.get("target"),
            )
        return Presentation(
            request_id=str(payload["requestId"]),
            url=str(payload["url"]),
            expiry=float(payload["expiry"]),
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


client = VerifiedIdClient()
