"""Protection reads that reach past the account: groups nested in a protected group, and what
a failed read tells the caller.

A refusal names only the kind of path, never the groups or roles that make the tenant's
administrators; a failed read must keep the same secret, while the ledger and the audit trail
keep the object's id for the security team.
"""

from __future__ import annotations

import json

from emulator import Fault, GraphEmulator, Tenant
from shared.ledger import get_ledger
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
