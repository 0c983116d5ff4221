"""The wallet tests drive: each outcome of a presentation (the right user, a failing face,
another user's credential, an unaccepted issuer, a revoked or expired credential, a request
never opened or expired), ``force`` for the app's own checks, and delivery of the callbacks
over HTTP on the test's loop (in order, reversed, duplicated)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

from emulator import GraphEmulator
from emulator._common import utcnow
from emulator.verifiedid import FACE_CHECK_FAILED, Callback
from tests.emulator.emu_helpers import ADELE, ALEX
from tests.emulator.vid_helpers import AUTHORITY, BODY, PARTNER, create, request_body


def _request(emu: GraphEmulator, body: dict[str, Any] | None = None) -> str:
    response = create(emu, body)
    assert response.status_code == 201, response.text
    return str(response.json()["requestId"])


def _identity_body(**validation: Any) -> dict[str, Any]:
    """A request for a partner's VerifiedIdentity with Face Check on ``portrait``."""
    credential = {
        "type": "VerifiedIdentity",
        "acceptedIssuers": [PARTNER],
        "configuration": {
            "validation": {
                "faceCheck": {"sourcePhotoClaimName": "portrait"},
                **validation,
            }
        },
    }
    return request_body(requestedCredentials=[credential])


def test_the_right_user_with_a_passing_face_is_verified(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    callbacks = emu.verified_id.wallet.present(request_id, adele, face_score=86.5)
    assert [c.status for c in callbacks] == ["request_retrieved", "presentation_verified"]
    retrieved, verified = callbacks
    assert retrieved.body == {
        "requestId": request_id,
        "requestStatus": "request_retrieved",
        "state": "ledger-row-1",
    }
    for callback in callbacks:
        assert callback.url == BODY["callback"]["url"]
        assert callback.headers == {"api-key": "per-request-secret"}
    body = verified.body
    assert body["state"] == "ledger-row-1"
    assert body["subject"].startswith("did:")
    (data,) = body["verifiedCredentialsData"]
    assert data["issuer"] == AUTHORITY
    assert data["type"] == ["VerifiableCredential", "VerifiedEmployee"]
    assert data["claims"]["revocationId"] == ADELE
    assert data["claims"]["displayName"] == "Adele Vance"
    assert data["claims"]["mail"] == ADELE
    assert "photo" not in data["claims"]
    assert data["credentialState"] == {"revocationStatus": "VALID"}
    assert data["domainValidation"] == {"url": "https://verifiedid.contoso.example/"}
    assert data["issuanceDate"].endswith("Z") and data["expirationDate"].endswith("Z")
    assert data["faceCheck"] == {"matchConfidenceScore": 86.5, "sourcePhotoQuality": "HIGH"}


def test_the_credential_carries_the_photo_the_face_is_matched_against(emu: GraphEmulator) -> None:
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    assert adele.photo_claim == "photo"
    assert adele.claims["photo"].startswith("%2F9j%2F")  # UrlEncode(Base64(JPEG))


@pytest.mark.parametrize(("score", "passes"), [(69.99, False), (70.0, True)])
def test_a_face_below_the_threshold_fails_without_a_score(
    emu: GraphEmulator, score: float, passes: bool
) -> None:
    request_id = _request(emu)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    last = emu.verified_id.wallet.present(request_id, adele, face_score=score)[-1]
    if passes:
        assert last.status == "presentation_verified"
        return
    assert last.body == {
        "requestId": request_id,
        "requestStatus": "presentation_error",
        "state": "ledger-row-1",
        "error": {"code": "claimValidationError", "message": FACE_CHECK_FAILED},
    }
    assert "matchConfidenceScore" not in str(last.body)


def test_the_default_threshold_is_70(emu: GraphEmulator) -> None:
    request_id = _request(emu, _identity_body())
    alice = emu.verified_id.wallet.identity_credential("Adele", "Vance", PARTNER)
    last = emu.verified_id.wallet.present(request_id, alice, face_score=69.0)[-1]
    assert last.body["error"]["code"] == "claimValidationError"


def test_another_users_credential_fails_the_constraint(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    alex = emu.verified_id.wallet.employee_credential(ALEX, AUTHORITY)
    last = emu.verified_id.wallet.present(request_id, alex)[-1]
    assert last.status == "presentation_error"
    assert last.body["error"]["code"] == "claimValidationError"
    assert "verifiedCredentialsData" not in last.body


def test_constraints_are_case_insensitive(emu: GraphEmulator) -> None:
    body = copy.deepcopy(BODY)
    body["requestedCredentials"][0]["constraints"] = [
        {"claimName": "revocationId", "values": ["ADELE.VANCE@CONTOSO.EXAMPLE"]},
        {"claimName": "mail", "startsWith": "Adele."},
    ]
    request_id = _request(emu, body)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    assert emu.verified_id.wallet.present(request_id, adele)[-1].status == "presentation_verified"


def test_force_lets_the_app_see_another_users_credential(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    alex = emu.verified_id.wallet.employee_credential(ALEX, AUTHORITY)
    last = emu.verified_id.wallet.present(request_id, alex, force=True)[-1]
    assert last.status == "presentation_verified"
    assert last.body["verifiedCredentialsData"][0]["claims"]["revocationId"] == ALEX


def test_an_issuer_outside_the_accepted_ones_is_refused(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    forged = emu.verified_id.wallet.employee_credential(ADELE, "did:web:evil.example")
    last = emu.verified_id.wallet.present(request_id, forged)[-1]
    assert last.body["error"]["code"] == "issuerNotAccepted"


def test_any_issuer_is_accepted_when_none_is_listed_and_forced_ones_are_reported(
    emu: GraphEmulator,
) -> None:
    body = copy.deepcopy(BODY)
    body["requestedCredentials"][0]["acceptedIssuers"] = []
    request_id = _request(emu, body)
    other = emu.verified_id.wallet.employee_credential(ADELE, "did:web:other.example")
    last = emu.verified_id.wallet.present(request_id, other)[-1]
    assert last.body["verifiedCredentialsData"][0]["issuer"] == "did:web:other.example"
    forced = emu.verified_id.wallet.present(
        _request(emu),
        emu.verified_id.wallet.employee_credential(ADELE, "did:web:evil.example"),
        force=True,
    )[-1]
    assert forced.body["verifiedCredentialsData"][0]["issuer"] == "did:web:evil.example"


def test_a_type_the_request_did_not_ask_for_is_refused(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    identity = emu.verified_id.wallet.identity_credential("Adele", "Vance", AUTHORITY)
    last = emu.verified_id.wallet.present(request_id, identity)[-1]
    assert last.body["error"]["code"] == "credentialTypeNotRequested"
    forced = emu.verified_id.wallet.present(_request(emu), identity, force=True)[-1]
    assert forced.body["verifiedCredentialsData"][0]["type"][1] == "VerifiedIdentity"


def test_a_revoked_credential_is_refused_unless_revoked_ones_are_allowed(
    emu: GraphEmulator,
) -> None:
    revoked = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY, revoked=True)
    refused = emu.verified_id.wallet.present(_request(emu), revoked)[-1]
    assert refused.body["error"]["code"] == "credentialRevoked"
    body = copy.deepcopy(BODY)
    body["requestedCredentials"][0]["configuration"]["validation"]["allowRevoked"] = True
    allowed = emu.verified_id.wallet.present(_request(emu, body), revoked)[-1]
    state = allowed.body["verifiedCredentialsData"][0]["credentialState"]
    assert state == {"revocationStatus": "REVOKED"}
    forced = emu.verified_id.wallet.present(_request(emu), revoked, force=True)[-1]
    assert forced.body["verifiedCredentialsData"][0]["credentialState"]["revocationStatus"] == (
        "REVOKED"
    )


def test_an_expired_credential_is_refused_and_forced_through_with_its_date(
    emu: GraphEmulator,
) -> None:
    ended = utcnow() - timedelta(days=1)
    old = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY, expires_at=ended)
    refused = emu.verified_id.wallet.present(_request(emu), old)[-1]
    assert refused.body["error"]["code"] == "credentialExpired"
    forced = emu.verified_id.wallet.present(_request(emu), old, force=True)[-1]
    assert forced.body["verifiedCredentialsData"][0]["expirationDate"] == ended.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_force_keeps_the_face_check(emu: GraphEmulator) -> None:
    alex = emu.verified_id.wallet.employee_credential(ALEX, AUTHORITY)
    last = emu.verified_id.wallet.present(_request(emu), alex, face_score=10.0, force=True)[-1]
    assert last.body["error"] == {"code": "claimValidationError", "message": FACE_CHECK_FAILED}


def test_a_partner_identity_credential_reports_names_without_the_portrait(
    emu: GraphEmulator,
) -> None:
    request_id = _request(emu, _identity_body())
    person = emu.verified_id.wallet.identity_credential(
        "Adèle", "Vance", PARTNER, date_of_birth="1990-04-01"
    )
    last = emu.verified_id.wallet.present(request_id, person, face_score=91.0)[-1]
    (data,) = last.body["verifiedCredentialsData"]
    assert data["type"] == ["VerifiableCredential", "VerifiedIdentity"]
    assert data["claims"] == {
        "firstName": "Adèle",
        "lastName": "Vance",
        "dateOfBirth": "1990-04-01",
    }
    assert data["faceCheck"]["matchConfidenceScore"] == 91.0


def test_a_request_without_face_check_reports_no_score(emu: GraphEmulator) -> None:
    body = copy.deepcopy(BODY)
    del body["requestedCredentials"][0]["configuration"]
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    last = emu.verified_id.wallet.present(_request(emu, body), adele, face_score=1.0)[-1]
    assert last.status == "presentation_verified"
    assert "faceCheck" not in last.body["verifiedCredentialsData"][0]


def test_an_opened_request_only_says_retrieved(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    assert [c.status for c in emu.verified_id.wallet.open(request_id)] == ["request_retrieved"]


def test_an_expired_request_produces_no_callback(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    emu.verified_id.expire(request_id)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    assert emu.verified_id.wallet.present(request_id, adele) == []
    assert emu.verified_id.wallet.open(request_id) == []


def test_a_request_is_answered_once(emu: GraphEmulator) -> None:
    request_id = _request(emu)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    emu.verified_id.wallet.present(request_id, adele)
    with pytest.raises(RuntimeError):
        emu.verified_id.wallet.present(request_id, adele)


def test_unknown_users_and_requests_are_test_errors(emu: GraphEmulator) -> None:
    with pytest.raises(KeyError):
        emu.verified_id.wallet.employee_credential("nobody@contoso.example", AUTHORITY)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    with pytest.raises(KeyError):
        emu.verified_id.wallet.present("00000000-0000-0000-0000-000000000000", adele)


# -- delivery --------------------------------------------------------------------------------


class Receiver:
    """The app's callback endpoint stand-in, served on the test's own loop."""

    def __init__(self) -> None:
        self.received: list[tuple[str | None, dict[str, Any]]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.headers.get("api-key"), await request.json()))
        return web.Response(status=200 if len(self.received) % 2 else 202)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/api/verifiedid/callback", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    found.url = f"http://127.0.0.1:{port}/api/verifiedid/callback"
    yield found
    await runner.cleanup()


def _presented(emu: GraphEmulator, url: str) -> list[Callback]:
    body = copy.deepcopy(BODY)
    body["callback"]["url"] = url
    request_id = _request(emu, body)
    adele = emu.verified_id.wallet.employee_credential(ADELE, AUTHORITY)
    return emu.verified_id.wallet.present(request_id, adele)


async def test_deliver_posts_each_callback_with_its_api_key(
    emu: GraphEmulator, receiver: Receiver
) -> None:
    callbacks = _presented(emu, receiver.url)
    statuses = await emu.verified_id.wallet.deliver(callbacks)
    assert statuses == [200, 202]
    assert receiver.received == [("per-request-secret", c.body) for c in callbacks]


async def test_deliver_can_reverse_and_duplicate(emu: GraphEmulator, receiver: Receiver) -> None:
    callbacks = _presented(emu, receiver.url)
    statuses = await emu.verified_id.wallet.deliver(callbacks, duplicate=True, reverse=True)
    assert len(statuses) == 4
    order = [body["requestStatus"] for _, body in receiver.received]
    assert order == [
        "presentation_verified",
        "presentation_verified",
        "request_retrieved",
        "request_retrieved",
    ]
