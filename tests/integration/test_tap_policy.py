"""Fail before harm: a reset asking for a Temporary Access Pass the tenant's policy would refuse
changes nothing, and says which rule refuses it.

Graph refuses a pass only when asked to create it, which in a reset comes after every method
is gone: the user would be left with no method and no pass. So the policy is read with the
user's other reads, and judged before any deletion.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator import GraphEmulator, Tenant
from shared.ledger import get_ledger
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, problem, submit

ALEX = "alex.wilber@contoso.example"


def tap_request(**tap: Any) -> dict[str, Any]:
    return {
        "user": ALEX,
        "ticket_id": "INC0088",
        "requested_by": "desk@contoso.example",
        "mode": "sync",
        "temporary_access_pass": {"lifetime_minutes": 60, "usable_once": True, **tap},
    }


def tap_methods(tenant: Tenant, user_id: str) -> list[dict[str, Any]]:
    kind = "#microsoft.graph.temporaryAccessPassAuthenticationMethod"
    return [m for m in tenant.methods(user_id) if m["@odata.type"] == kind]


@pytest.mark.parametrize(
    ("policy", "tap", "rule"),
    [
        ({"enabled": False}, {}, "tap-policy-disabled"),
        ({"min_lifetime": 60, "max_lifetime": 480}, {"lifetime_minutes": 10}, "tap-lifetime"),
        ({"min_lifetime": 10, "max_lifetime": 120}, {"lifetime_minutes": 480}, "tap-lifetime"),
        ({"usable_once_default": True}, {"usable_once": False}, "tap-one-time-only"),
        (
            {"include_targets": ("7f2c6a55-5b33-4f49-a0a3-0a3c4c5bbf1e",)},
            {},
            "tap-user-not-targeted",
        ),
    ],
)
async def test_a_pass_the_policy_refuses_is_a_409_before_any_write(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    policy: dict[str, Any],
    tap: dict[str, Any],
    rule: str,
):
    for name, value in policy.items():
        setattr(tenant.tap_policy, name, value)
    alex = tenant.user(ALEX)
    assert alex is not None
    before = tenant.methods(alex.id)

    response, _ = await submit(tap_request(**tap))

    assert response.status_code == 409
    body = problem(response)
    assert body["type"] == "urn:mfa-reset:problem:tap-not-allowed"
    assert body["rule"] == rule
    assert graph_emulator.writes() == []
    assert tenant.methods(alex.id) == before and tenant.revocations(alex.id) == 0
    # The ledger says what became of it, as for any other conflict.
    ledger = await get_ledger()
    (row,) = [r async for r in ledger._table.query_entities("TicketId eq 'INC0088'")]
    assert row["Status"] == "failed" and rule in row["LastError"]


async def test_a_pass_for_a_member_of_a_targeted_group_replaces_the_old_one(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    alex = tenant.user(ALEX)
    assert alex is not None
    group = tenant.add_group("TAP pilot")
    tenant.add_member(group.id, alex.id)
    tenant.tap_policy.include_targets = (group.id,)
    tenant.add_method(alex.id, "temporaryAccessPass")  # an old pass, issued last week

    response, _ = await submit(tap_request())

    assert response.status_code == 200, response.get_body()
    outcome = body_of(response)
    assert outcome["status"] == "succeeded"
    (only,) = tap_methods(tenant, alex.id)  # the old pass went, the new one is the only one
    issued = next(s for s in outcome["steps"] if s["action"] == "create_temporary_access_pass")
    assert only["id"] == issued["method_id"]
    assert outcome["temporary_access_pass"]["value"] == tenant.last_tap_value(alex.id)


async def test_a_dry_run_says_up_front_that_the_pass_would_be_refused(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    tenant.tap_policy.enabled = False
    response, _ = await submit({**tap_request(), "dry_run": True})

    assert response.status_code == 409
    assert problem(response)["rule"] == "tap-policy-disabled"
    assert graph_emulator.writes() == []


async def test_a_disabled_account_is_reset_and_the_outcome_says_it_cannot_sign_in(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    user = tenant.add_user(
        "disabled.user@contoso.example", display_name="Disabled User", account_enabled=False
    )
    tenant.add_method(user.id, "microsoftAuthenticator")

    response, _ = await submit({**tap_request(), "user": user.user_principal_name})

    assert response.status_code == 200, response.get_body()
    outcome = body_of(response)
    assert outcome["status"] == "succeeded"
    assert "account is disabled" in outcome["detail"]


@pytest.mark.parametrize("dry_run", [False, True])
async def test_a_user_in_an_excluded_group_is_refused_before_any_write(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames, dry_run: bool
):
    """Included through one group, excluded through another: Entra applies the exclusion, so
    the pass would be refused after every method is gone."""
    alex = tenant.user(ALEX)
    assert alex is not None
    included, excluded = tenant.add_group("TAP pilot"), tenant.add_group("No passes")
    outer = tenant.add_group("Contractors")  # excluded through a nested group
    tenant.add_member(included.id, alex.id)
    tenant.add_member(outer.id, alex.id)
    tenant.add_member(excluded.id, outer.id)
    tenant.tap_policy.include_targets = (included.id,)
    tenant.tap_policy.exclude_targets = (excluded.id,)
    before = tenant.methods(alex.id)

    response, _ = await submit({**tap_request(), "dry_run": dry_run})

    assert response.status_code == 409, response.get_body()
    body = problem(response)
    assert body["type"] == "urn:mfa-reset:problem:tap-not-allowed"
    assert body["rule"] == "tap-user-excluded"
    assert graph_emulator.writes() == []
    assert tenant.methods(alex.id) == before and tenant.revocations(alex.id) == 0
