"""Shared pieces of the Verified ID emulator tests: a presentation request body as the app
sends it, a token for the request service, and the call that creates a request."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from emulator import GraphEmulator
from tests.emulator.emu_helpers import fetch_token

VID_RESOURCE = "3db474b9-6a0c-4840-96ac-1fceb342124f"
AUTHORITY = "did:web:verifiedid.contoso.example"
PARTNER = "did:web:idv.partner.example"
CALLBACK = "https://mfareset.contoso.example/api/verifiedid/callback"

BODY: dict[str, Any] = {
    "authority": AUTHORITY,
    "includeQRCode": False,
    "includeReceipt": False,
    "registration": {"clientName": "Contoso IT helpdesk", "purpose": "Prove your identity"},
    "callback": {
        "url": CALLBACK,
        "state": "ledger-row-1",
        "headers": {"api-key": "per-request-secret"},
    },
    "requestedCredentials": [
        {
            "type": "VerifiedEmployee",
            "acceptedIssuers": [AUTHORITY],
            "constraints": [
                {"claimName": "revocationId", "values": ["adele.vance@contoso.example"]}
            ],
            "configuration": {
                "validation": {
                    "allowRevoked": False,
                    "validateLinkedDomain": True,
                    "faceCheck": {"sourcePhotoClaimName": "photo", "matchConfidenceThreshold": 70},
                }
            },
        }
    ],
}


def request_body(**changes: Any) -> dict[str, Any]:
    """A deep copy of :data:`BODY` with top-level keys replaced."""
    body = copy.deepcopy(BODY)
    body.update(changes)
    return body


def vid_token(emu: GraphEmulator) -> str:
    return fetch_token(emu, VID_RESOURCE)


def create(
    emu: GraphEmulator, body: Any = None, token: str | None = None, **kwargs: Any
) -> httpx.Response:
    """POST createPresentationRequest; ``body`` defaults to :data:`BODY`."""
    headers = {"Authorization": f"Bearer {token if token is not None else vid_token(emu)}"}
    return httpx.post(
        f"{emu.verified_id.base_url}/verifiableCredentials/createPresentationRequest",
        json=BODY if body is None else body,
        headers=headers,
        timeout=10,
        **kwargs,
    )


def assert_vid_error(
    response: httpx.Response, status: int, code: str, inner: str
) -> dict[str, Any]:
    """The documented envelope: requestId, date, mscv, error{code, message, innererror}."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert set(document) == {"requestId", "date", "mscv", "error"}
    assert document["date"].endswith(" GMT")
    error: dict[str, Any] = document["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["innererror"]["code"] == inner
    assert error["innererror"]["message"]
    return error
