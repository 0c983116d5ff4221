"""Fail before harm: a user holding a method the app cannot delete (a hardware OATH token while
GRAPH_BETA_METHODS is off, a type Graph adds later) is refused up front, with the method named
and the reason, unless the request keeps that type.

Before, such a method was skipped in silence: the reset deleted what it could, then Graph
refused the default method while the other remained, and the user was left half reset (502,
"1 selected method(s) remain") with nothing saying what blocked it. Graph v1.0 does not list
hardware tokens at all (it lists only its own version's types), so the app reads them through
beta even with beta off: a read, which changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.ledger import get_ledger
from tests.integration.test_async_resets import enqueue, functions
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, problem, status, submit

ODATA = {
    "hardwareOath": "#microsoft.graph.hardwareOathAuthenticationMethod",
    "qrCodePin": "#microsoft.graph.qrCodePinAuthenticationMethod",
    "futureType": "#microsoft.graph.futureSignInAuthenticationMethod",
}
NAMES = {"hardwareOath": "hardwareOath", "qrCodePin": "qrCodePin", "futureType": "futureSignIn"}
REASONS = {
    "hardwareOath": "no v1.0 delete; set GRAPH_BETA_METHODS=true to remove it through Graph beta",
    "futureType": "a type this app does not know, so it has no delete for it",
}


def reset_of(upn: str, ticket: str, **fields: Any) -> dict[str, Any]:
    return {
        "user": upn,
        "ticket_id": ticket,
        "requested_by": "desk@contoso.example",
        "mode": "sync",
        **fields,
    }


def seed(tenant: Tenant, kind: str, *, beside_phone: bool) -> tuple[str, str]:
    """A user with ``kind`` (the default unless a phone is beside it) and an Authenticator."""
    user = tenant.add_user(f"{kind.lower()}.user@contoso.example", display_name=kind)
    tenant.add_method(user.id, "microsoftAuthenticator")
    if beside_phone:
        tenant.add_method(user.id, "phone", phone_number="+1 2065550141", default=True)
        held = tenant.add_method(user.id, kind)
    else:
        held = tenant.add_method(user.id, kind, default=True)
    return user.id, held


@pytest.mark.parametrize(
    ("kind", "beside_phone"),
    [
        ("hardwareOath", False),  # the token is the default method
        ("hardwareOath", True),  # a token beside the default phone: the case
        ("futureType", True),  # an @odata.type nobody knows
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_method_the_app_cannot_delete_is_named_and_nothing_is_deleted(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    kind: str,
    beside_phone: bool,
    dry_run: bool,
):
    user_id, held = seed(tenant, kind, beside_phone=beside_phone)
    upn = f"{kind.lower()}.user@contoso.example"
    before = tenant.methods(user_id)

    response, _ = await submit(reset_of(upn, "INC0260", dry_run=dry_run))

    assert response.status_code == 409, response.get_body()
    body = problem(response)
    assert body["type"] == "urn:mfa-reset:problem:method-not-removable"
    assert body["methods"] == [
        {"type": NAMES[kind], "odata_type": ODATA[kind], "id": held, "reason": REASONS[kind]}
    ]
    assert NAMES[kind] in body["detail"] and held in body["detail"]
    assert REASONS[kind] in body["detail"]
    assert graph_emulator.writes() == []
    assert tenant.methods(user_id) == before and tenant.revocations(user_id) == 0


async def test_the_ledger_the_status_view_and_the_audit_name_what_blocked_a_queued_reset(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    queue_host: QueueHost,
    caplog: pytest.LogCaptureFixture,
):
    user_id, held = seed(tenant, "hardwareOath", beside_phone=True)
    body = reset_of("hardwareoath.user@contoso.example", "INC0261", mode="async")

    response, queue = await submit(body)
    assert response.status_code == 202, response.get_body()
    reset_id = body_of(response)["id"]
    await enqueue(queue_host, app_env, queue)
    await queue_host.drain(app_env.queue, functions()["process_reset"])

    assert graph_emulator.writes() == []
    assert held in {m["id"] for m in tenant.methods(user_id)}
    view = body_of(await status(reset_id))
    assert view["status"] == "failed"
    assert "hardwareOath" in view["detail"] and held in view["detail"]
    assert REASONS["hardwareOath"] in view["detail"]
    (event,) = [r for r in caplog.records if r.name == "mfa_reset.audit" and "INC0261" in r.message]
    assert '"event":"failed"' in event.message and REASONS["hardwareOath"] in event.message
    ledger = await get_ledger()
    (row,) = [r async for r in ledger._table.query_entities("TicketId eq 'INC0261'")]
    assert row["Status"] == "failed" and held in row["LastError"]


async def test_a_listed_request_leaves_the_token_and_says_it_remains(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    user_id, held = seed(tenant, "hardwareOath", beside_phone=False)

    response, _ = await submit(
        reset_of(
            "hardwareoath.user@contoso.example",
            "INC0262",
            remove_methods=["microsoftAuthenticator"],
        )
    )

    assert response.status_code == 200, response.get_body()
    outcome = body_of(response)
    assert outcome["status"] == "succeeded", outcome
    (deleted,) = [s for s in outcome["steps"] if s["action"] == "delete_method"]
    assert deleted["odata_type"] == "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
    remaining = {m["id"]: m for m in outcome["remaining_methods"]}
    assert remaining[held]["odata_type"] == ODATA["hardwareOath"]
    assert remaining[held]["type"] == "hardwareOath"
    assert held in {m["id"] for m in tenant.methods(user_id)}


async def test_naming_hardware_tokens_without_beta_is_refused_and_keeping_them_is_not(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    user_id, held = seed(tenant, "hardwareOath", beside_phone=False)

    named, _ = await submit(
        reset_of("hardwareoath.user@contoso.example", "INC0263", remove_methods=["hardwareOath"])
    )
    kept, _ = await submit(
        reset_of("hardwareoath.user@contoso.example", "INC0264", keep_methods=["hardwareOath"])
    )

    assert named.status_code == 409, named.get_body()
    assert problem(named)["methods"][0]["reason"] == REASONS["hardwareOath"]
    assert kept.status_code == 200, kept.get_body()
    assert body_of(kept)["status"] == "succeeded"
    assert [m["id"] for m in tenant.methods(user_id)][1:] == [held]


async def test_without_beta_a_failed_token_read_does_not_stop_a_reset(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    user = tenant.add_user("no.token@contoso.example", display_name="No token")
    tenant.add_method(user.id, "phone", phone_number="+1 2065550144", default=True)
    graph_emulator.faults.add(
        Fault(method="GET", path=r"^/beta/.*/hardwareOathMethods$", status=403, times=None)
    )

    response, _ = await submit(reset_of("no.token@contoso.example", "INC0265"))

    assert body_of(response)["status"] == "succeeded"
    assert "could not read the user's hardware OATH tokens" in caplog.text
    assert not [
        r for r in graph_emulator.requests if r.path.startswith("/beta/") and r.method != "GET"
    ]
