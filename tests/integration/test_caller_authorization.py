"""Caller authorization with caller roles required, through the HTTP functions.

With WEBSITE_AUTH_ENABLED (which App Service sets) or REQUIRE_CALLER_ROLES (which the templates
set), the app verifies the caller's Entra ID access token against the tenant's published keys
(the emulator plays Entra ID) and checks its app roles; no header is trusted.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables.aio import TableClient

from emulator import GraphEmulator
from emulator.azurite import Azurite
from emulator.entra import API_CLIENT_ID
from shared.guards import close_signing_keys
from shared.settings import get_settings
from tests.support.audit import audit_events
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, problem, status, submit

ALEX = "alex.wilber@contoso.example"
BODY = {"user": ALEX, "ticket_id": "CHG0001", "requested_by": "desk@contoso.example"}
SERVICENOW = "8a1f5c1e-3b7d-4c55-9a9e-2f6d1c0b7e41"


def signed_in(emu: GraphEmulator, *roles: str) -> dict[str, str]:
    token = emu.entra.issue(*roles, app_id=SERVICENOW, app_displayname="ServiceNow production")
    return {"Authorization": f"Bearer {token}"}


def forged_principal(*roles: str) -> str:
    """An X-MS-CLIENT-PRINCIPAL header as App Service Authentication writes it: any client can
    send one when the platform is not in front to strip it."""
    claims = [{"typ": "appid", "val": SERVICENOW}] + [{"typ": "roles", "val": r} for r in roles]
    document = {"auth_typ": "aad", "role_typ": "roles", "claims": claims}
    return base64.b64encode(json.dumps(document).encode()).decode()


@pytest.fixture(params=["WEBSITE_AUTH_ENABLED", "REQUIRE_CALLER_ROLES"])
async def easy_auth(
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    request: pytest.FixtureRequest,
) -> AsyncIterator[StorageNames]:
    """Authentication on, as the platform announces it or as the templates require it."""
    caplog.set_level("INFO", logger="mfa_reset.audit")
    emu: GraphEmulator = request.getfixturevalue("graph_emulator")
    monkeypatch.setenv(request.param, "true")
    monkeypatch.setenv("CALLER_TENANT_ID", emu.entra.tenant_id)
    monkeypatch.setenv("CALLER_AUDIENCES", f"{API_CLIENT_ID},api://{API_CLIENT_ID}")
    monkeypatch.setenv("CALLER_AUTHORITY", emu.origin)
    get_settings.cache_clear()
    yield app_env
    await close_signing_keys()


async def ledger_rows(azurite: Azurite, names: StorageNames) -> list[dict[str, object]]:
    """The reset rows; none when the ledger table was never even created."""
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=names.table
    ) as client:
        try:
            return [dict(e) async for e in client.query_entities("Kind eq 'reset'")]
        except ResourceNotFoundError:
            return []


async def test_no_signed_in_caller_is_a_401_before_anything_happens(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit(BODY)

    assert response.status_code == 401
    assert problem(response)["type"] == "urn:mfa-reset:problem:caller-unauthenticated"
    assert not queue.is_set
    assert graph_emulator.requests == []
    assert await ledger_rows(azurite, easy_auth) == []
    (event,) = audit_events(caplog)
    assert (event["event"], event["status"], event["caller"]) == ("refused", "refused", None)


async def test_a_caller_without_a_role_is_a_403_and_audited(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    response, queue = await submit(
        {**BODY, "mode": "sync"}, signed_in(graph_emulator, "Some.Other.Role")
    )

    assert response.status_code == 403
    body = problem(response)
    assert body["type"] == "urn:mfa-reset:problem:caller-forbidden"
    assert "MfaReset.Execute" in body["detail"]
    assert not queue.is_set
    assert graph_emulator.requests == []
    assert await ledger_rows(azurite, easy_auth) == []
    (event,) = audit_events(caplog)
    assert event["event"] == "refused"
    assert event["detail"].startswith("caller-forbidden: ")  # what docs/security.md alerts on
    assert event["ticket_id"] == "CHG0001"
    assert event["target"] == ALEX
    assert event["caller"]["app_id"] == SERVICENOW


async def test_the_preview_role_allows_dry_runs_only(
    easy_auth: StorageNames, graph_emulator: GraphEmulator
):
    preview = signed_in(graph_emulator, "MfaReset.Preview")

    dry, _ = await submit({**BODY, "dry_run": True}, preview)
    assert dry.status_code == 200
    assert body_of(dry)["status"] == "planned"

    for mode in ("sync", "async"):
        refused, _ = await submit({**BODY, "mode": mode, "ticket_id": f"CHG-{mode}"}, preview)
        assert refused.status_code == 403, mode
    assert graph_emulator.writes() == []


async def test_the_execute_role_runs_and_the_caller_is_recorded(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    response, _ = await submit(BODY, signed_in(graph_emulator, "MfaReset.Execute"))

    assert response.status_code == 202
    (row,) = await ledger_rows(azurite, easy_auth)
    assert row["CallerAuth"] == "entra-id-token"
    assert row["CallerAppId"] == SERVICENOW
    assert row["CallerName"] == "ServiceNow production"
    (event,) = audit_events(caplog)
    assert event["event"] == "accepted"
    assert event["caller"] == {
        "authenticated_by": "entra-id-token",
        "app_id": SERVICENOW,
        "name": "ServiceNow production",
        "user_id": None,  # an application token: no signed-in user
        "user_name": None,
    }


async def test_status_reads_need_one_of_the_roles(
    easy_auth: StorageNames, graph_emulator: GraphEmulator
):
    response, _ = await submit(BODY, signed_in(graph_emulator, "MfaReset.Execute"))
    reset_id = body_of(response)["id"]

    assert (await status(reset_id)).status_code == 401
    assert (await status(reset_id, signed_in(graph_emulator, "User.Read"))).status_code == 403
    assert (
        await status(reset_id, signed_in(graph_emulator, "MfaReset.Preview"))
    ).status_code == 202
    assert (
        await status(reset_id, signed_in(graph_emulator, "MfaReset.Execute"))
    ).status_code == 202


async def test_with_function_keys_only_a_principal_header_grants_nothing_and_is_not_recorded(
    app_env: StorageNames, graph_emulator: GraphEmulator, azurite: Azurite
):
    # Without caller roles required, neither a token nor a principal header counts.
    headers = {
        **signed_in(graph_emulator, "MfaReset.Execute"),
        "X-MS-CLIENT-PRINCIPAL": forged_principal("MfaReset.Execute"),
    }
    response, _ = await submit(BODY, headers)

    assert response.status_code == 202
    (row,) = await ledger_rows(azurite, app_env)
    assert row["CallerAuth"] == "function-key"
    assert row.get("CallerAppId") is None


async def test_a_self_made_principal_header_grants_nothing(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    """The review's finding: with App Service Authentication off, a client-made header
    claiming the execute role got a 202 and a forged caller name in the audit trail."""
    forged = {"X-MS-CLIENT-PRINCIPAL": forged_principal("MfaReset.Execute")}
    response, queue = await submit(BODY, forged)
    assert response.status_code == 401
    assert not queue.is_set

    # Beside a genuine token without the role, the header adds nothing either.
    response, queue = await submit(BODY, {**forged, **signed_in(graph_emulator, "User.Read")})
    assert response.status_code == 403
    assert not queue.is_set
    assert await ledger_rows(azurite, easy_auth) == []
    assert graph_emulator.requests == []


async def test_idempotency_keys_belong_to_their_caller(
    easy_auth: StorageNames, graph_emulator: GraphEmulator
):
    """A predictable key (a ticket number) used by another caller is neither a conflict (422)
    nor a way to read back the first caller's reset."""
    other_app = "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
    first_caller = {**signed_in(graph_emulator, "MfaReset.Execute"), "Idempotency-Key": "INC42"}
    token = graph_emulator.entra.issue("MfaReset.Execute", app_id=other_app)
    second_caller = {"Authorization": f"Bearer {token}", "Idempotency-Key": "INC42"}

    first, _ = await submit(BODY, first_caller)
    replay, _ = await submit(BODY, first_caller)
    assert body_of(replay)["id"] == body_of(first)["id"]  # the same caller replays

    other, _ = await submit({**BODY, "ticket_id": "CHG0002"}, second_caller)
    assert other.status_code == 202  # not a 422: the key is the other caller's own
    assert body_of(other)["id"] != body_of(first)["id"]


async def test_ticket_and_user_without_a_key_belong_to_their_caller(
    easy_auth: StorageNames, graph_emulator: GraphEmulator
):
    """Without an Idempotency-Key, ticket and user identify a submission; another caller naming
    the same ticket and user must not pre-claim them (its request would be a 422, never
    queued)."""
    other_app = "0d4c2b1a-9e8f-4a7b-8c6d-5e4f3a2b1c0d"
    token = graph_emulator.entra.issue("MfaReset.Execute", app_id=other_app)
    squatter = {"Authorization": f"Bearer {token}"}

    claimed, _ = await submit({**BODY, "revoke_sessions": False}, squatter)
    assert claimed.status_code == 202

    genuine, queue = await submit(BODY, signed_in(graph_emulator, "MfaReset.Execute"))
    assert genuine.status_code == 202, genuine.get_body()
    assert body_of(genuine)["id"] != body_of(claimed)["id"]
    assert queue.is_set


async def test_a_delegated_token_records_the_signed_in_user(
    easy_auth: StorageNames,
    graph_emulator: GraphEmulator,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    """A Power Automate connection signed in as a service account: the client application is
    Power Automate's, the person is the service account, and both are recorded."""
    service_account = "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9"
    token = graph_emulator.entra.issue(
        "MfaReset.Execute",
        app_id=SERVICENOW,
        app_displayname="ServiceNow production",
        scp="user_impersonation",
        oid=service_account,
        upn="svc-flows@contoso.example",
    )
    response, _ = await submit(BODY, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 202
    reset_id = body_of(response)["id"]

    expected = {
        "authenticated_by": "entra-id-token",
        "app_id": SERVICENOW,
        "name": "ServiceNow production",
        "user_id": service_account,
        "user_name": "svc-flows@contoso.example",
    }
    (accepted,) = [e for e in audit_events(caplog) if e["event"] == "accepted"]
    assert accepted["caller"] == expected
    view = body_of(await status(reset_id, signed_in(graph_emulator, "MfaReset.Preview")))
    assert view["caller"] == expected
    (row,) = await ledger_rows(azurite, easy_auth)
    assert (row["CallerUserId"], row["CallerUserName"]) == (
        service_account,
        "svc-flows@contoso.example",
    )


async def test_an_application_token_names_no_user_though_it_carries_an_oid(
    easy_auth: StorageNames, graph_emulator: GraphEmulator, caplog: pytest.LogCaptureFixture
):
    """In an application token ``oid`` is the client's service principal, not a person."""
    response, _ = await submit(BODY, signed_in(graph_emulator, "MfaReset.Execute"))
    (accepted,) = [e for e in audit_events(caplog) if e["event"] == "accepted"]
    assert body_of(response)["id"] == accepted["reset_id"]
    assert (accepted["caller"]["user_id"], accepted["caller"]["user_name"]) == (None, None)
