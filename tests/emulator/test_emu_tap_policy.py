"""The Temporary Access Pass policy as Graph serves it, and the pass it lets Graph create."""

from __future__ import annotations

import httpx

from emulator import GraphEmulator, Tenant
from emulator.demo import ALEX_ID
from tests.emulator.emu_helpers import assert_graph_error

POLICY = (
    "/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass"
)
TAP = f"/users/{ALEX_ID}/authentication/temporaryAccessPassMethods"


def test_the_policy_is_served_as_its_configuration(
    tenant: Tenant, emu: GraphEmulator, client: httpx.Client
) -> None:
    tenant.tap_policy.min_lifetime, tenant.tap_policy.max_lifetime = 60, 480
    body = client.get(POLICY).json()

    assert (
        body["@odata.type"]
        == "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration"
    )
    assert (body["state"], body["minimumLifetimeInMinutes"], body["maximumLifetimeInMinutes"]) == (
        "enabled",
        60,
        480,
    )
    assert body["includeTargets"] == [
        {"targetType": "group", "id": "all_users", "isRegistrationRequired": False}
    ]
    tenant.tap_policy.enabled = False
    assert client.get(POLICY.lower()).json()["state"] == "disabled"  # the id is case-insensitive
    assert client.post(POLICY, json={}).status_code == 405


def test_a_pass_needs_the_user_in_a_targeted_group(
    tenant: Tenant, emu: GraphEmulator, client: httpx.Client
) -> None:
    group = tenant.add_group("TAP pilot")
    tenant.tap_policy.include_targets = (group.id,)
    refused = client.post(TAP, json={"lifetimeInMinutes": 60})
    assert "UserCredentialPolicy" in assert_graph_error(refused, 400, "badRequest")["message"]

    tenant.add_member(group.id, ALEX_ID)
    assert client.post(TAP, json={"lifetimeInMinutes": 60}).status_code == 201


def test_an_excluded_group_wins_over_an_included_one(
    tenant: Tenant, emu: GraphEmulator, client: httpx.Client
) -> None:
    included, excluded = tenant.add_group("TAP pilot"), tenant.add_group("No passes")
    tenant.tap_policy.include_targets = (included.id,)
    tenant.tap_policy.exclude_targets = (excluded.id,)
    tenant.add_member(included.id, ALEX_ID)
    tenant.add_member(excluded.id, ALEX_ID)

    assert client.get(POLICY).json()["excludeTargets"] == [
        {"targetType": "group", "id": excluded.id}
    ]
    refused = client.post(TAP, json={"lifetimeInMinutes": 60})
    assert "UserCredentialPolicy" in assert_graph_error(refused, 400, "badRequest")["message"]
