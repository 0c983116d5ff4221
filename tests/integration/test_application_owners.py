"""Owners of privileged applications are protected: an owner of an app registration or of its
service principal can add a credential and sign in as the application, with every right it
holds (a directory role, or a Microsoft Graph permission that leads to one).

Through the functions and the real SDK against the emulator, which models service principals,
applications, their owners and app role assignments as Graph documents them.
"""

from __future__ import annotations

import json

import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.graph.gateway import GraphGateway
from shared.guards import DEFAULT_POLICY, TargetProtectedError
from shared.guards.targets import PATH_KINDS
from shared.models import ResetRequest
from shared.reset.engine import ResetEngine
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, submit

USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
DOMAIN = "contoso.example"


def seeded_user(tenant: Tenant, name: str) -> str:
    user = tenant.add_user(f"{name}@{DOMAIN}")
    tenant.add_method(user.id, "phone", phone_type="mobile", phone_number="+1 2065550177")
    return user.id


def sync(name: str) -> dict[str, str]:
    return {
        "user": f"{name}@{DOMAIN}",
        "ticket_id": "INC13",
        "requested_by": "desk",
        "mode": "sync",
    }


@pytest.fixture
def owners(tenant: Tenant) -> dict[str, str]:
    """One owner per way to a privileged application, and owners of harmless ones."""
    apps = tenant.apps
    names = ("sp_owner", "app_owner", "role_owner", "foreign_owner", "mail_owner", "mi_reader")
    ids = {name: seeded_user(tenant, name) for name in names}
    roles = apps.add_application("Role automation")
    apps.grant(roles.id, "RoleManagement.ReadWrite.Directory")
    apps.add_sp_owner(roles.id, ids["sp_owner"])
    directory = apps.add_application("Directory sync")
    apps.grant(directory.id, "Directory.ReadWrite.All")
    apps.add_app_owner(directory.id, ids["app_owner"])
    admin = apps.add_application("Onboarding robot")
    apps.assign_directory_role(admin.id, "User Administrator", USER_ADMIN)
    apps.add_app_owner(admin.id, ids["role_owner"])
    # A multi-tenant app registered elsewhere: its registration is a 404 here, not a failure.
    partner = apps.add_application("Partner sync", registered_here=False)
    apps.grant(partner.id, "UserAuthenticationMethod.ReadWrite.All")
    apps.add_sp_owner(partner.id, ids["foreign_owner"])
    # Not privileged: a mail reader's owner; a managed identity with a privileged grant.
    mail = apps.add_application("Mailbox reader")
    apps.grant(mail.id, "Mail.Read")
    apps.add_app_owner(mail.id, ids["mail_owner"])
    apps.grant(apps.add_managed_identity("mfa-reset").id, "UserAuthenticationMethod.ReadWrite.All")
    return ids


@pytest.mark.parametrize("name", ["sp_owner", "app_owner", "role_owner", "foreign_owner"])
async def test_an_owner_of_a_privileged_application_is_refused_before_any_write(
    owners: dict[str, str], graph_emulator: GraphEmulator, app_env: StorageNames, name: str
):
    response, _ = await submit(sync(name))

    assert response.status_code == 403, response.get_body()
    problem = json.loads(response.get_body())
    assert problem["reason"] == "application-owner"
    assert PATH_KINDS["application-owner"] in problem["detail"]
    # The caller learns the kind of path, not which application holds what.
    for secret in ("Role automation", "Directory sync", "Onboarding robot", "ReadWrite"):
        assert secret not in response.get_body().decode()
    assert graph_emulator.writes() == []


@pytest.mark.parametrize("name", ["mail_owner", "mi_reader"])
async def test_owners_of_unprivileged_applications_are_reset(
    owners: dict[str, str], graph_emulator: GraphEmulator, app_env: StorageNames, name: str
):
    response, _ = await submit(sync(name))

    assert response.status_code == 200, response.get_body()
    assert body_of(response)["status"] == "succeeded"


def _request(name: str) -> ResetRequest:
    return ResetRequest.model_validate_json(json.dumps(sync(name)))


async def test_application_reads_once_per_sweep_and_afresh_for_a_webhook(
    owners: dict[str, str], graph_emulator: GraphEmulator, gateway: GraphGateway
):
    def granted() -> int:
        return sum(1 for r in graph_emulator.requests if r.path.endswith("/appRoleAssignedTo"))

    engine = ResetEngine(gateway, policy=DEFAULT_POLICY)
    for n, name in enumerate(("mail_owner", "mi_reader")):
        await engine.run(_request(name), f"s{n}", reuse_tenant_reads=True)
    with pytest.raises(TargetProtectedError) as refused:
        await engine.run(_request("app_owner"), "s2", reuse_tenant_reads=True)
    assert refused.value.reason == "application-owner"
    assert granted() == 1  # the sweep's resets share the tenant-wide reads
    # Each privileged service principal's owners, and each registration's, read once.
    owner_reads = [r.path for r in graph_emulator.requests if r.path.endswith("/owners")]
    # Five privileged principals (the managed identity too); the four that are not managed
    # identities have their registration looked up (the partner's answers 404).
    assert len(owner_reads) == len(set(owner_reads)) == 5 + 4

    # A webhook's decision reads afresh: an owner added a moment ago is seen at once.
    graph_emulator.tenant.apps.add_sp_owner(
        next(
            s.id
            for s in graph_emulator.tenant.apps.service_principals.values()
            if s.display_name == "Mailbox reader"
        ),
        owners["mi_reader"],
    )
    mail_owner_now = await engine.run(_request("mi_reader"), "w1")
    assert mail_owner_now.status.value == "succeeded"  # Mail.Read is not privileged
    with pytest.raises(TargetProtectedError):
        await engine.run(_request("sp_owner"), "w2")
    assert granted() == 3


async def test_a_denied_application_read_fails_closed_naming_the_permission(
    owners: dict[str, str], graph_emulator: GraphEmulator, app_env: StorageNames
):
    """Without Application.Read.All the check cannot see who owns what: nothing is written."""
    graph_emulator.faults.add(
        Fault(path=r"/appRoleAssignedTo$", status=403, times=None, retry_after=None)
    )
    response, _ = await submit(sync("mail_owner"))

    assert response.status_code == 502
    problem = json.loads(response.get_body())
    assert problem["type"] == "urn:mfa-reset:problem:protection-check-failed"
    assert problem["permission"] == "Application.Read.All"
    assert graph_emulator.writes() == []
