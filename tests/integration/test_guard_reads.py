"""Protection reads that reach past the account: groups nested in a protected group, and what
a failed read tells the caller.

A refusal names only the kind of path, never the groups or roles that make the tenant's
administrators; a failed read must keep the same secret, while the ledger and the audit trail
keep the object's id for the security team.
"""

from __future__ import annotations

import json

import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.ledger import get_ledger
from shared.settings import get_settings
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, status, submit

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
DOMAIN = "contoso.example"


def seeded_user(tenant: Tenant, name: str) -> str:
    user = tenant.add_user(f"{name}@{DOMAIN}")
    tenant.add_method(user.id, "phone", phone_type="mobile", phone_number="+1 2065550177")
    return user.id


async def test_a_failed_group_read_names_the_kind_of_read_never_the_group(
    tenant: Tenant, graph_emulator: GraphEmulator, app_env: StorageNames
):
    """The 502 and a later status read say which kind of read failed and what to grant; the
    role-assignable group's id stays in the ledger (and the audit trail) only."""
    user_id = seeded_user(tenant, "tied")
    tier0 = tenant.add_group("Tier 0", role_assignable=True)
    tenant.add_member(tier0.id, user_id)
    tenant.add_directory_role(tier0.id, "Global Administrator", role_template_id=GLOBAL_ADMIN)
    graph_emulator.faults.add(
        Fault(
            path=r"/roleManagement/directory/roleAssignments",
            query=rf"principalId eq '{tier0.id}'",
            status=403,
            times=None,
            retry_after=None,
        )
    )
    body = {"user": f"tied@{DOMAIN}", "ticket_id": "INC12", "requested_by": "desk"}
    response, _ = await submit({**body, "mode": "sync"})

    assert response.status_code == 502
    problem = json.loads(response.get_body())
    assert problem["type"] == "urn:mfa-reset:problem:protection-check-failed"
    assert problem["failed_read"] == "the role assignments of a role-assignable group"
    assert tier0.id not in response.get_body().decode()
    assert graph_emulator.writes() == []

    ledger = await get_ledger()
    (row,) = [r async for r in ledger._table.query_entities("TicketId eq 'INC12'")]
    assert tier0.id in row["LastError"]  # the security team can still tell which group
    shown = await status(row["RowKey"])
    assert "role-assignable group" in body_of(shown)["detail"]
    assert tier0.id not in shown.get_body().decode()


@pytest.mark.parametrize(
    ("name", "tie"),
    [
        ("nested_owner", "owner"),
        ("deep_owner", "owner of a group two levels down"),
        ("nested_pim_member", "eligible-member"),
        ("nested_pim_owner", "eligible-owner"),
    ],
)
async def test_who_can_join_a_group_nested_in_a_protected_group_is_protected(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    tie: str,
):
    """An owner of a group nested in a protected group can add themselves to it, and so become
    a transitive member; PIM for Groups lets an eligible member or owner do the same."""
    executives, board = tenant.add_group("Executives"), tenant.add_group("Board")
    committee = tenant.add_group("Audit committee")
    tenant.add_member(executives.id, board.id)
    tenant.add_member(board.id, committee.id)
    user_id = seeded_user(tenant, name)
    if name == "nested_owner":
        tenant.add_owner(board.id, user_id)
    elif name == "deep_owner":
        tenant.add_owner(committee.id, user_id)
    else:
        tenant.add_group_eligibility(user_id, board.id, access=tie.removeprefix("eligible-"))
    monkeypatch.setenv("PROTECTED_GROUP_IDS", executives.id)
    get_settings.cache_clear()

    body = {"user": f"{name}@{DOMAIN}", "ticket_id": "INC9", "requested_by": "desk"}
    response, _ = await submit({**body, "mode": "sync"})

    assert response.status_code == 403, response.get_body()
    answer = json.loads(response.get_body())
    assert answer["reason"] == "protected-group"
    assert "Board" not in response.get_body().decode()
    assert graph_emulator.writes() == []
    # The nested groups were read once for the decision, beside the other tenant-wide reads.
    nested = [r for r in graph_emulator.requests if r.path.endswith("/transitiveMembers")]
    assert [r.path for r in nested] == [f"/v1.0/groups/{executives.id}/transitiveMembers"]


async def test_a_nested_group_that_ties_nobody_leaves_ordinary_users_alone(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
):
    executives, board, staff = (tenant.add_group(n) for n in ("Executives", "Board", "Staff"))
    tenant.add_member(executives.id, board.id)
    user_id = seeded_user(tenant, "staff")
    tenant.add_owner(staff.id, user_id)  # owns a group outside the protected one
    monkeypatch.setenv("PROTECTED_GROUP_IDS", executives.id)
    get_settings.cache_clear()

    body = {"user": f"staff@{DOMAIN}", "ticket_id": "INC9b", "requested_by": "desk"}
    response, _ = await submit({**body, "mode": "sync"})

    assert response.status_code == 200, response.get_body()
    assert body_of(response)["status"] == "succeeded"
