"""Proof before reset, through the functions, the emulated Verified ID service and its wallet.

Only the right person with a passing Face Check score releases a reset; every other wallet
behaviour leaves the user untouched with the rule named. The pass of a verified reset appears
once, on the user's page, and nowhere else.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import azure.functions as func
import pytest

from emulator import GraphEmulator
from shared.clock import utc_now
from shared.ledger import get_ledger
from shared.settings import get_settings
from tests.integration.test_callbacks import (  # noqa: F401 (fixtures)
    Receiver,
    callbacks_on,
    receiver,
    verified,
)
from tests.support.app import handler
from tests.support.audit import audit_events
from tests.support.bindings import Out
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, status, submit
from tests.support.pages import keep_delayed_sends

AUTHORITY = "did:web:verifiedid.contoso.example"
PARTNER = "did:web:idv.partner.example"
BASE = "https://mfa-reset.contoso.example"
ALEX = "alex.wilber@contoso.example"
ADELE = "adele.vance@contoso.example"
BODY = {
    "user": ALEX,
    "ticket_id": "INC0252525",
    "requested_by": "agent.smith@contoso.example",
    "verification": "verified-id",
}


@pytest.fixture
def proving(
    app_env: StorageNames, graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[list[str], timedelta]]:
    """Verified ID configured; what the worker puts back on the queue is kept here (the
    real delayed send is tested with the notifications)."""
    monkeypatch.setenv("VERIFIED_ID_AUTHORITY", AUTHORITY)
    monkeypatch.setenv("VERIFIED_ID_ACCEPTED_ISSUERS", f"{AUTHORITY},{PARTNER}")
    monkeypatch.setenv("VERIFIED_ID_CREDENTIAL_TYPES", "VerifiedEmployee,VerifiedIdentity")
    monkeypatch.setenv("PUBLIC_BASE_URL", BASE)
    get_settings.cache_clear()
    return keep_delayed_sends(monkeypatch)


def params(link: str) -> dict[str, str]:
    reset_id, token = link.removeprefix(f"{BASE}/api/verify/").split("/")
    return {"reset_id": reset_id, "token": token}


async def page(link: str, method: str = "GET") -> str:
    request = func.HttpRequest(
        method=method, url=link, route_params=params(link), headers={}, body=b""
    )
    if method == "GET":
        response: func.HttpResponse = await handler("verify_page")(request, Out())
    else:
        response = await handler("verify_pass")(request)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    return response.get_body().decode()


async def call_back(callback: Any, api_key: str | None = "as-sent") -> int:
    headers = (
        dict(callback.headers)
        if api_key == "as-sent"
        else ({"api-key": api_key} if api_key else {})
    )
    request = func.HttpRequest(
        method="POST",
        url=f"{BASE}/api/verify-callback",
        headers={**headers, "Content-Type": "application/json"},
        body=json.dumps(callback.body).encode(),
    )
    response: func.HttpResponse = await handler("verified_id_callback")(request, Out())
    return int(response.status_code)


async def accepted(body: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """A reset awaiting proof: its id, the user's link, and its work item."""
    response, queue = await submit(body or BODY)
    assert response.status_code == 202, response.get_body()
    view = body_of(response)
    assert view["status"] == "awaiting-verification"
    return view["id"], view["verification"]["link"], queue.get()


async def run_item(queue_host: QueueHost, names: StorageNames, item: str) -> None:
    await queue_host.send(names.queue, item)
    report = await queue_host.drain(names.queue, handler("process_reset"))
    assert report.failed == [], report.failed


def changes(emu: GraphEmulator) -> list[Any]:
    return [w for w in emu.writes() if not w.path.endswith("/sendMail")]


async def test_only_the_right_person_with_a_passing_face_releases_the_reset(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    queue_host: QueueHost,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    reset_id, link, item = await accepted()
    # Waiting: the worker puts the item back and changes nothing.
    await run_item(queue_host, app_env, item)
    assert changes(graph_emulator) == [] and len(proving) == 1

    shown = await page(link)
    assert "<svg" in shown and "openid-vc://" in shown and 'http-equiv="refresh"' in shown
    service = graph_emulator.verified_id
    request = service.latest()
    sent = request.body
    (wanted, *_) = sent["requestedCredentials"]
    assert wanted["acceptedIssuers"] == [AUTHORITY, PARTNER]
    assert wanted["configuration"]["validation"]["faceCheck"]["matchConfidenceThreshold"] == 70
    assert wanted["configuration"]["validation"]["allowRevoked"] is False
    assert wanted["constraints"] == [{"claimName": "revocationId", "values": [ALEX]}]

    wallet = service.wallet
    credential = wallet.employee_credential(ALEX, AUTHORITY)
    statuses = [await call_back(c) for c in wallet.present(request.request_id, credential)]
    assert statuses == [200, 200]
    assert body_of(await status(reset_id))["status"] == "accepted"

    await run_item(queue_host, app_env, item)
    assert body_of(await status(reset_id))["status"] == "succeeded"
    (event,) = [e for e in audit_events(caplog) if e["event"] == "verified"]
    assert "VerifiedEmployee" in event["detail"] and AUTHORITY in event["detail"]
    assert "revocationId" in event["detail"]
    verification = await (await get_ledger()).verifications.get(reset_id)
    assert verification is not None and verification.outcome["score"] == 90.0
    assert "photo" not in json.dumps(verification.outcome)
    assert "Alex" not in caplog.text.replace(ALEX, "")  # no claim values, only their names


@pytest.mark.parametrize(
    ("case", "rule"),
    [
        ("face-does-not-match", "face-check"),
        ("another-users-credential", "subject"),
        ("unaccepted-issuer", "issuer"),
        ("revoked", "revoked"),
        ("expired", "expired"),
    ],
)
async def test_every_other_presentation_leaves_the_user_untouched_with_the_rule_named(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    queue_host: QueueHost,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
    case: str,
    rule: str,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    reset_id, link, item = await accepted()
    await page(link)
    service = graph_emulator.verified_id
    wallet = service.wallet
    kwargs: dict[str, Any] = {}
    if case == "face-does-not-match":
        credential, kwargs = wallet.employee_credential(ALEX, AUTHORITY), {"face_score": 40.0}
    elif case == "another-users-credential":
        credential, kwargs = wallet.employee_credential(ADELE, AUTHORITY), {"force": True}
    elif case == "unaccepted-issuer":
        credential = wallet.employee_credential(ALEX, "did:web:elsewhere.example")
        kwargs = {"force": True}
    elif case == "revoked":
        credential, kwargs = (
            wallet.employee_credential(ALEX, AUTHORITY, revoked=True),
            {"force": True},
        )
    else:
        past = utc_now() - timedelta(days=1)
        credential = wallet.employee_credential(ALEX, AUTHORITY, expires_at=past)
        kwargs = {"force": True}
    for callback in wallet.present(service.latest().request_id, credential, **kwargs):
        assert await call_back(callback) == 200

    assert body_of(await status(reset_id))["status"] == "awaiting-verification"
    await run_item(queue_host, app_env, item)
    assert changes(graph_emulator) == []
    (failed,) = [e for e in audit_events(caplog) if e["event"] == "verification-failed"]
    assert failed["detail"].startswith(f"verification-failed: {rule} ")
    again = await page(link)  # a new presentation, with the reason in plain words
    assert "That did not work" in again and "Attempts left: 2" in again


@pytest.mark.parametrize(
    ("first", "last", "rule", "proven"),
    [
        ("ALEX", "  wilber-nunez ", "exact", True),  # case, accents, spacing, hyphen aside
        ("Alexander", "Wilber Núñez", "exact", False),
        ("Alexander", "Wilber Núñez", "relaxed", True),  # a first name may be a prefix
        ("Álex", "Wilber", "relaxed", False),  # the surname must match
    ],
)
async def test_a_partner_credential_proves_by_the_directorys_names(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    last: str,
    rule: str,
    proven: bool,
):
    monkeypatch.setenv("VERIFIED_ID_NAME_MATCH", rule)
    monkeypatch.setenv("VERIFIED_ID_CREDENTIAL_TYPES", "VerifiedIdentity")
    get_settings.cache_clear()
    graph_emulator.tenant.add_user(
        "alex.nunez@contoso.example", givenName="Álex", surname="Wilber-Núñez"
    )
    reset_id, link, _ = await accepted({**BODY, "user": "alex.nunez@contoso.example"})
    await page(link)
    service = graph_emulator.verified_id
    credential = service.wallet.identity_credential(first, last, PARTNER)
    for callback in service.wallet.present(service.latest().request_id, credential):
        assert await call_back(callback) == 200
    expected = "accepted" if proven else "awaiting-verification"
    assert body_of(await status(reset_id))["status"] == expected


async def test_callbacks_duplicated_or_out_of_order_decide_once_and_a_replay_is_refused(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO", logger="mfa_reset.audit")
    reset_id, link, _ = await accepted()
    await page(link)
    service = graph_emulator.verified_id
    callbacks = service.wallet.present(
        service.latest().request_id, service.wallet.employee_credential(ALEX, AUTHORITY)
    )
    retrieved, verified = callbacks
    assert await call_back(verified) == 200  # the result before the retrieval
    assert await call_back(retrieved) == 200
    assert await call_back(verified) == 409  # the same request id again: a replay
    assert body_of(await status(reset_id))["status"] == "accepted"
    assert len([e for e in audit_events(caplog) if e["event"] == "verified"]) == 1


async def test_the_callback_refuses_a_wrong_or_missing_key_and_an_unknown_request(
    proving: list[tuple[list[str], timedelta]], graph_emulator: GraphEmulator, app_env: StorageNames
):
    reset_id, link, _ = await accepted()
    await page(link)
    service = graph_emulator.verified_id
    _, verified = service.wallet.present(
        service.latest().request_id, service.wallet.employee_credential(ALEX, AUTHORITY)
    )
    assert await call_back(verified, api_key=None) == 401
    assert await call_back(verified, api_key="not-the-key") == 401
    verified.body["requestId"] = "00000000-0000-0000-0000-000000000000"
    assert await call_back(verified) == 400
    assert body_of(await status(reset_id))["status"] == "awaiting-verification"


async def test_a_request_never_opened_expires_and_a_new_one_is_made_until_attempts_run_out(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("VERIFICATION_ATTEMPTS", "2")
    get_settings.cache_clear()
    reset_id, link, _ = await accepted()
    await page(link)
    first = graph_emulator.verified_id.latest().request_id
    later = utc_now() + timedelta(minutes=6)
    monkeypatch.setattr("shared.reset.verification.utc_now", lambda: later)
    assert "Attempts left: 1" in await page(link)
    assert graph_emulator.verified_id.latest().request_id != first
    much_later = later + timedelta(minutes=6)
    monkeypatch.setattr("shared.reset.verification.utc_now", lambda: much_later)
    ended = await page(link)
    assert "could not confirm" in ended
    view = body_of(await status(reset_id))
    assert view["status"] == "failed"
    assert view["detail"].startswith("verification-failed: expired-request")
    assert changes(graph_emulator) == []


async def test_the_pass_appears_once_on_the_verified_users_page_and_nowhere_else(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    queue_host: QueueHost,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("DEBUG")
    body = {**BODY, "temporary_access_pass": {"lifetime_minutes": 60, "usable_once": True}}
    reset_id, link, item = await accepted(body)
    await page(link)
    service = graph_emulator.verified_id
    for callback in service.wallet.present(
        service.latest().request_id, service.wallet.employee_credential(ALEX, AUTHORITY)
    ):
        assert await call_back(callback) == 200
    await run_item(queue_host, app_env, item)
    view = body_of(await status(reset_id))
    assert view["status"] == "succeeded"
    assert not any(s["action"] == "create_temporary_access_pass" for s in view["steps"])

    done = await page(link)
    assert "Show my Temporary Access Pass" in done
    shown = await page(link, "POST")
    user = graph_emulator.tenant.user(ALEX)
    assert user is not None
    value = graph_emulator.tenant.last_tap_value(user.id)
    assert value and value in shown
    assert "already shown" in await page(link, "POST")
    assert value not in await page(link)
    assert value not in caplog.text
    assert value not in json.dumps(body_of(await status(reset_id)))


async def test_the_caller_is_called_back_with_the_link_and_again_when_the_reset_ends(
    proving: list[tuple[list[str], timedelta]],
    callbacks_on: StorageNames,  # noqa: F811 (the fixture imported above)
    receiver: Receiver,  # noqa: F811
    graph_emulator: GraphEmulator,
    queue_host: QueueHost,
):
    reset_id, link, item = await accepted({**BODY, "callback_url": receiver.url()})
    callbacks = f"{callbacks_on.queue}-callbacks"
    queued: Out[str] = Out()
    await handler("process_reset")(func.QueueMessage(body=item.encode(), id="m1"), queued)
    await queue_host.send(callbacks, queued.get())
    await queue_host.drain(callbacks, handler("deliver_callback"))
    first = verified(receiver.received[0])
    assert first["event"] == "reset.awaiting_verification"
    assert first["verification"]["link"] == link

    await page(link)
    service = graph_emulator.verified_id
    for callback in service.wallet.present(
        service.latest().request_id, service.wallet.employee_credential(ALEX, AUTHORITY)
    ):
        assert await call_back(callback) == 200
    ended: Out[str] = Out()
    await handler("process_reset")(func.QueueMessage(body=item.encode(), id="m2"), ended)
    await queue_host.send(callbacks, ended.get())
    await queue_host.drain(callbacks, handler("deliver_callback"))
    events = [verified(r)["event"] for r in receiver.received]
    assert events == ["reset.awaiting_verification", "reset.succeeded"]
    assert body_of(await status(reset_id))["status"] == "succeeded"


async def test_a_reset_nobody_proves_within_a_day_ends_even_if_its_work_item_was_lost(
    proving: list[tuple[list[str], timedelta]],
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
):
    from shared.cleanup import CleanupRun
    from shared.graph.client import get_gateway

    reset_id, _, _ = await accepted()  # its work item is never delivered
    later = utc_now() + timedelta(days=1, minutes=1)
    run = CleanupRun(await get_ledger(), get_gateway, get_settings(), clock=lambda: later)
    await run.run()
    view = body_of(await status(reset_id))
    assert view["status"] == "failed"
    assert view["detail"].startswith("verification-failed: expired")
    assert changes(graph_emulator) == []
