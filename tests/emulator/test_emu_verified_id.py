"""The emulated Request Service API over HTTP: which token it takes, what it refuses in a
request body (the documented 400 envelope), what a created request answers and keeps, and
scripted faults."""

from __future__ import annotations

import base64
import copy
import time
import uuid
from typing import Any

import httpx
import pytest

from emulator import Fault, GraphEmulator
from tests.emulator.emu_helpers import GRAPH, fetch_token
from tests.emulator.vid_helpers import (
    BODY,
    CALLBACK,
    VID_RESOURCE,
    assert_vid_error,
    create,
    request_body,
)


async def test_a_token_azure_identity_gets_for_the_scope_creates_a_request(
    emu: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity.aio import ManagedIdentityCredential

    for name, value in emu.env().items():
        monkeypatch.setenv(name, value)
    async with ManagedIdentityCredential() as credential:
        access = await credential.get_token(f"{VID_RESOURCE}/.default")
    assert emu.token_requests[-1]["resource"] == VID_RESOURCE
    before = int(time.time())
    response = create(emu, token=access.token)
    assert response.status_code == 201, response.text
    answer = response.json()
    assert set(answer) == {"requestId", "url", "expiry"}  # no qrCode unless asked
    assert str(uuid.UUID(answer["requestId"])) == answer["requestId"]
    assert answer["url"].startswith("openid-vc://?request_uri=" + emu.verified_id.base_url)
    assert answer["url"].endswith(
        "/verifiableCredentials/presentationRequests/" + answer["requestId"]
    )
    assert before + 300 <= answer["expiry"] <= int(time.time()) + 300


def test_the_created_request_is_kept_for_tests(emu: GraphEmulator) -> None:
    answer = create(emu).json()
    kept = emu.verified_id.latest()
    assert kept is emu.verified_id.requests[answer["requestId"]]
    assert kept.body == BODY
    assert kept.callback_url == CALLBACK
    assert kept.state == "ledger-row-1"
    assert kept.callback_headers == {"api-key": "per-request-secret"}
    assert kept.expiry == answer["expiry"]
    assert not kept.expired
    emu.verified_id.expire(answer["requestId"])
    assert kept.expired


def test_the_qr_code_comes_only_when_asked_for_and_is_a_png(emu: GraphEmulator) -> None:
    answer = create(emu, request_body(includeQRCode=True)).json()
    prefix = "data:image/png;base64,"
    assert answer["qrCode"].startswith(prefix)
    assert base64.b64decode(answer["qrCode"][len(prefix) :]).startswith(b"\x89PNG\r\n\x1a\n")


def test_the_lifetime_can_be_shortened(emu: GraphEmulator) -> None:
    emu.verified_id.request_lifetime = 2
    answer = create(emu).json()
    assert answer["expiry"] <= int(time.time()) + 2


@pytest.mark.parametrize("resource", [GRAPH, "https://storage.azure.com"])
def test_a_token_for_another_audience_is_unauthorized(emu: GraphEmulator, resource: str) -> None:
    response = create(emu, token=fetch_token(emu, resource))
    error = assert_vid_error(response, 401, "unauthorized", "tokenError")
    assert "audience" in error["innererror"]["message"]
    assert emu.verified_id.requests == {}


def test_no_token_or_an_unknown_one_is_unauthorized(emu: GraphEmulator) -> None:
    url = f"{emu.verified_id.base_url}/verifiableCredentials/createPresentationRequest"
    assert_vid_error(httpx.post(url, json=BODY), 401, "unauthorized", "tokenError")
    assert_vid_error(create(emu, token="made-up"), 401, "unauthorized", "tokenError")


def test_an_expired_token_is_unauthorized(emu: GraphEmulator) -> None:
    token = fetch_token(emu, VID_RESOURCE)
    emu.expire_tokens()
    error = assert_vid_error(create(emu, token=token), 401, "unauthorized", "tokenError")
    assert "expired" in error["innererror"]["message"]


def test_without_the_present_request_role_the_identity_is_forbidden(emu: GraphEmulator) -> None:
    emu.tenant.verified_id_roles.clear()
    error = assert_vid_error(create(emu), 403, "forbidden", "tokenError")
    assert "VerifiableCredential.Create.PresentRequest" in error["innererror"]["message"]
    assert emu.verified_id.requests == {}
    emu.tenant.verified_id_roles.add("VerifiableCredential.Create.All")
    assert create(emu).status_code == 201
    emu.tenant.verified_id_roles = {"VerifiableCredential.Create.IssueRequest"}
    assert create(emu).status_code == 403


def _without(path: str) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    del node[last]
    return body


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(BODY)
    *parents, last = path.split(".")
    node: Any = body
    for key in parents:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return body


FACE = "requestedCredentials.0.configuration.validation.faceCheck"
FACE_TARGET = "requestedCredentials[0].configuration.validation.faceCheck"
INVALID = [
    (_without("authority"), "authority"),
    (_with("authority", 42), "authority"),
    (_with("includeQRCode", "true"), "includeQRCode"),
    (_with("includeReceipt", 1), "includeReceipt"),
    (_without("registration.clientName"), "registration.clientName"),
    (_without("callback"), "callback"),
    (_without("callback.url"), "callback.url"),
    (_with("callback.url", "not a url"), "callback.url"),
    (_with("callback.headers", {"x-functions-key": "k"}), "callback.headers"),
    (_with("callback.headers", {"api-key": "k", "Cookie": "c"}), "callback.headers"),
    (_without("requestedCredentials"), "requestedCredentials"),
    (_with("requestedCredentials", []), "requestedCredentials"),
    (_without("requestedCredentials.0.type"), "requestedCredentials[0].type"),
    (
        _with("requestedCredentials.0.acceptedIssuers", "did:web:x"),
        "requestedCredentials[0].acceptedIssuers",
    ),
    (_without(f"{FACE}.sourcePhotoClaimName"), f"{FACE_TARGET}.sourcePhotoClaimName"),
    (_with(f"{FACE}.matchConfidenceThreshold", 49), f"{FACE_TARGET}.matchConfidenceThreshold"),
    (_with(f"{FACE}.matchConfidenceThreshold", 101), f"{FACE_TARGET}.matchConfidenceThreshold"),
    (_with(f"{FACE}.matchConfidenceThreshold", 70.5), f"{FACE_TARGET}.matchConfidenceThreshold"),
    (
        _with("requestedCredentials.0.configuration.validation.allowRevoked", "no"),
        "requestedCredentials[0].configuration.validation.allowRevoked",
    ),
    (
        _with("requestedCredentials.0.constraints.0.contains", "adele"),
        "requestedCredentials[0].constraints[0]",
    ),
]


@pytest.mark.parametrize(("body", "target"), INVALID, ids=[t for _, t in INVALID])
def test_an_invalid_request_is_refused_with_its_field(
    emu: GraphEmulator, body: dict[str, Any], target: str
) -> None:
    error = assert_vid_error(create(emu, body), 400, "badRequest", "badOrMissingField")
    assert error["message"] == "The request is invalid."
    assert error["innererror"]["target"] == target
    assert emu.verified_id.requests == {}


def test_the_documented_optional_fields_may_be_left_out(emu: GraphEmulator) -> None:
    body = _without("requestedCredentials.0.configuration")
    body = {k: v for k, v in body.items() if k not in ("includeQRCode", "includeReceipt")}
    del body["callback"]["headers"]
    del body["callback"]["state"]
    body["requestedCredentials"][0]["acceptedIssuers"] = []
    body["callback"]["headers"] = {"Authorization": "Bearer abc"}
    assert create(emu, body).status_code == 201
    assert emu.verified_id.latest().state is None


def test_a_body_that_is_not_json_is_a_bad_request(emu: GraphEmulator) -> None:
    response = httpx.post(
        f"{emu.verified_id.base_url}/verifiableCredentials/createPresentationRequest",
        content=b"{not json",
        headers={"Authorization": f"Bearer {fetch_token(emu, VID_RESOURCE)}"},
    )
    assert_vid_error(response, 400, "badRequest", "badOrMissingField")


def test_other_routes_and_methods(emu: GraphEmulator) -> None:
    token = fetch_token(emu, VID_RESOURCE)
    headers = {"Authorization": f"Bearer {token}"}
    base = emu.verified_id.base_url
    missing = httpx.post(
        f"{base}/verifiableCredentials/createIssuanceRequest", json={}, headers=headers
    )
    assert_vid_error(missing, 404, "notFound", "notFound")
    wrong_method = httpx.get(
        f"{base}/verifiableCredentials/createPresentationRequest", headers=headers
    )
    assert_vid_error(wrong_method, 405, "methodNotAllowed", "methodNotAllowed")


@pytest.mark.parametrize(
    ("status", "code"), [(429, "tooManyRequests"), (503, "serviceUnavailable")]
)
def test_a_scripted_fault_answers_in_the_service_envelope(
    emu: GraphEmulator, status: int, code: str
) -> None:
    emu.verified_id.faults.add(
        Fault(path="createPresentationRequest", status=status, retry_after="2")
    )
    response = create(emu)
    assert_vid_error(response, status, code, "transientError")
    assert response.headers["Retry-After"] == "2"
    assert emu.verified_id.requests == {}
    assert create(emu).status_code == 201  # used up
    assert [c.status for c in emu.verified_id.calls] == [status, 201]


def test_a_graph_fault_never_lands_on_the_request_service(emu: GraphEmulator) -> None:
    emu.faults.add(Fault(status=503, times=None))
    assert create(emu).status_code == 201


def test_a_dropped_answer_still_creates_the_request(emu: GraphEmulator) -> None:
    emu.verified_id.faults.add(Fault(path="createPresentationRequest", drop_after=True))
    with pytest.raises(httpx.TransportError):
        create(emu)
    assert len(emu.verified_id.requests) == 1
