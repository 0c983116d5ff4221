"""Protected targets are refused before any write, through the real SDK against the emulator.

Every path Entra offers to a directory role has a user protected through that path alone; the
emulator answers the documented endpoints (role assignments at tenant and administrative-unit
scope, custom roles, PIM eligibilities, PIM for Groups, group owners, restricted management
units), so a path the check forgets is a reset that goes through.
"""

from __future__ import annotations

import json

import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.graph.contract import ProtectionReadError
from shared.graph.gateway import GraphGateway
from shared.guards import DEFAULT_POLICY, TargetPolicy, TargetProtectedError
from shared.guards.targets import GROUP_MEMBER, PATH_KINDS, PIM_FOR_GROUPS, ROLE_MANAGEMENT
from shared.models import OutcomeStatus, ResetRequest
from shared.reset.engine import ResetEngine
from tests.support.app import handler
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, status, submit

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
AUTH_ADMIN = "c4e39bd9-1100-46d3-8c65-fb160da0071f"
REPORTS_READER = "4a5d8f65-41da-4de4-8968-e035b65339cf"
DOMAIN = "contoso.example"


def request(user: str) -> ResetRequest:
    body = {"user": user, "ticket_id": "INC7", "requested_by": "desk", "mode": "sync"}
    return ResetRequest.model_validate_json(json.dumps(body))


def seeded_user(tenant: Tenant, upn: str) -> str:
    user = tenant.add_user(upn)
    tenant.add_method(user.id, "phone", phone_type="mobile", phone_number="+1 2065550177")
    return user.id


# Each account is protected through exactly one path (the name), and by nothing else.
PATHS = [
    ("active", "directory-role"),
    ("au_scoped", "directory-role"),
    ("custom_role", "directory-role"),
    ("eligible", "eligible-role"),
    ("eligible_au", "eligible-role"),
    ("viagroup", "group-role"),
    ("viagroup_eligible", "group-eligible-role"),
    ("pim_member", "group-pim-eligibility"),
    ("pim_owner", "group-pim-eligibility"),
    ("owner", "group-owner"),
    ("restricted", "restricted-management-unit"),
    ("nested", "protected-group"),
    ("protected_owner", "protected-group"),
    ("protected_pim", "protected-group"),
    ("denied", "denied"),
]


@pytest.fixture
def protected(tenant: Tenant) -> dict[str, str]:
    """One account per path to a role (or other protection), each with a phone to delete."""
    names = [name for name, _ in PATHS] + ["reader", "ordinary", "idle_owner", "idle_member"]
    ids = {name: seeded_user(tenant, f"{name}@{DOMAIN}") for name in names}
    t = tenant
    t.add_directory_role(ids["active"], "Global Administrator", role_template_id=GLOBAL_ADMIN)

    # 1. Administrative-unit scope and a custom role: never a directoryRole membership.
    region = t.add_administrative_unit("EMEA")
    t.add_directory_role(
        ids["au_scoped"],
        "Helpdesk Administrator",
        role_template_id=HELPDESK_ADMIN,
        directory_scope_id=f"/administrativeUnits/{region.id}",
    )
    t.add_custom_role_assignment(ids["custom_role"], "MFA Operators")

    # 3. PIM eligibility of the user, at tenant and at unit scope.
    t.add_eligible_role(ids["eligible"], "User Administrator", role_definition_id=USER_ADMIN)
    t.add_eligible_role(
        ids["eligible_au"],
        "Authentication Administrator",
        role_definition_id=AUTH_ADMIN,
        directory_scope_id=f"/administrativeUnits/{region.id}",
    )

    # 2. A role through a role-assignable group; 3. PIM eligibility of such a group.
    helpdesk = t.add_group("Helpdesk admins", role_assignable=True)
    t.add_member(helpdesk.id, ids["viagroup"])
    t.add_directory_role(helpdesk.id, "Helpdesk Administrator", role_template_id=HELPDESK_ADMIN)
    tier0 = t.add_group("Tier 0 (eligible)", role_assignable=True)
    t.add_member(tier0.id, ids["viagroup_eligible"])
    t.add_eligible_role(tier0.id, "Global Administrator", role_definition_id=GLOBAL_ADMIN)

    # 4. PIM for Groups eligibility for membership or ownership, and plain ownership.
    t.add_group_eligibility(ids["pim_member"], helpdesk.id, access="member")
    t.add_group_eligibility(ids["pim_owner"], tier0.id, access="owner")
    t.add_owner(tier0.id, ids["owner"])

    # 5. A restricted management administrative unit.
    vip = t.add_administrative_unit("VIP", restricted=True)
    t.add_unit_member(vip.id, ids["restricted"])

    # Protected groups: member (nested), owner, PIM-eligible member.
    executives = t.add_group("Executives")
    board = t.add_group("Board")
    t.add_member(executives.id, board.id)
    t.add_member(board.id, ids["nested"])
    t.add_owner(executives.id, ids["protected_owner"])
    t.add_group_eligibility(ids["protected_pim"], executives.id, access="member")

    # Not protected: an allowed role (through a group), an ordinary group, a role-assignable
    # group that holds no role (member and owner), a unit that is not restricted.
    readers = t.add_group("Report readers", role_assignable=True)
    t.add_member(readers.id, ids["reader"])
    t.add_directory_role(readers.id, "Reports Reader", role_template_id=REPORTS_READER)
    staff = t.add_group("All staff")
    t.add_member(staff.id, ids["ordinary"])
    t.add_unit_member(region.id, ids["ordinary"])
    spare = t.add_group("Spare role group", role_assignable=True)
    t.add_member(spare.id, ids["idle_member"])
    t.add_owner(spare.id, ids["idle_owner"])
    t.add_group_eligibility(ids["idle_member"], spare.id, access="owner")

    ids["executives_group"] = executives.id
    ids["helpdesk_group"] = helpdesk.id
    ids["tier0_group"] = tier0.id
    ids["spare_group"] = spare.id
    return ids


def policy(protected: dict[str, str]) -> TargetPolicy:
    return TargetPolicy(
        denied=frozenset({f"denied@{DOMAIN}"}),
        protected_group_ids=frozenset({protected["executives_group"]}),
        allowed_role_template_ids=frozenset({REPORTS_READER}),
    )


READS_OF_METHODS = {("GET", "methods"), ("GET", "hardwareOathMethods")}


@pytest.mark.parametrize(("kind", "reason"), PATHS)
async def test_every_path_to_a_role_is_refused_before_any_write(
    protected: dict[str, str],
    graph_emulator: GraphEmulator,
    gateway: GraphGateway,
    kind: str,
    reason: str,
):
    engine = ResetEngine(gateway, policy=policy(protected))
    with pytest.raises(TargetProtectedError) as refused:
        await engine.run(request(f"{kind}@{DOMAIN}"), "r1")

    assert refused.value.reason == reason
    assert graph_emulator.writes() == []
    # Nothing of the account's methods was touched: the listing (and its hardware tokens,
    # through beta), read beside the protection check, is all that went near them.
    near = [r for r in graph_emulator.requests if "/authentication/" in r.path]
    assert {(r.method, r.path.rsplit("/", 1)[1]) for r in near} <= READS_OF_METHODS


def test_every_path_has_a_public_description():
    # application-owner has its own tests (test_application_owners.py).
    assert {reason for _, reason in PATHS} == set(PATH_KINDS) - {"application-owner"}


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("au_scoped", "Helpdesk Administrator (scope /administrativeUnits/"),
        ("custom_role", "MFA Operators"),
        ("viagroup_eligible", "'Tier 0 (eligible)', which is eligible for directory roles (PIM)"),
        ("pim_owner", "may activate ownership of role-assignable group 'Tier 0 (eligible)'"),
        ("pim_member", "may activate membership of role-assignable group 'Helpdesk admins'"),
        ("owner", "owns role-assignable group 'Tier 0 (eligible)'"),
    ],
)
async def test_the_refusal_names_the_path(
    protected: dict[str, str], gateway: GraphGateway, kind: str, words: str
):
    with pytest.raises(TargetProtectedError) as refused:
        await ResetEngine(gateway, policy=policy(protected)).run(request(f"{kind}@{DOMAIN}"), "r1")
    assert words in refused.value.detail


async def test_roles_protect_by_default(
    protected: dict[str, str], graph_emulator: GraphEmulator, gateway: GraphGateway
):
    with pytest.raises(TargetProtectedError, match="Reports Reader") as refused:
        await ResetEngine(gateway, policy=DEFAULT_POLICY).run(request(f"reader@{DOMAIN}"), "r1")
    assert refused.value.reason == "group-role"
    assert graph_emulator.writes() == []


@pytest.mark.parametrize("kind", ["reader", "ordinary", "idle_owner", "idle_member"])
async def test_allowed_roles_and_ordinary_users_are_reset(
    protected: dict[str, str], gateway: GraphGateway, kind: str
):
    outcome = await ResetEngine(gateway, policy=policy(protected)).run(
        request(f"{kind}@{DOMAIN}"), "r1"
    )
    assert outcome.status is OutcomeStatus.succeeded, outcome.detail


def _protection_reads(emu: GraphEmulator, since: int = 0) -> list[str]:
    prefixes = ("/v1.0/roleManagement", "/v1.0/identityGovernance", "/v1.0/groups")
    seen = emu.requests[since:]
    paths = [r.path for r in seen if r.path.startswith(prefixes)]
    paths += [r.path for r in seen if "transitiveMemberOf" in r.path]
    return sorted(paths)


async def test_an_ordinary_user_costs_one_round_of_reads(
    protected: dict[str, str], graph_emulator: GraphEmulator, gateway: GraphGateway
):
    """Round trips the check adds: none for an ordinary user (its reads go out together after
    the user is resolved); one more for a user tied to role-assignable groups."""
    engine = ResetEngine(gateway, policy=DEFAULT_POLICY)
    await engine.run(request(f"ordinary@{DOMAIN}"), "r1")
    assert _protection_reads(graph_emulator) == sorted(
        [
            "/v1.0/roleManagement/directory/roleAssignments",
            "/v1.0/roleManagement/directory/roleAssignments",  # tenant-wide: service principals
            "/v1.0/roleManagement/directory/roleEligibilityScheduleInstances",
            f"/v1.0/users/{protected['ordinary']}/transitiveMemberOf/graph.group",
            "/v1.0/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
            "/v1.0/groups",
        ]
    )
    before = len(graph_emulator.requests)
    await engine.run(request(f"idle_member@{DOMAIN}"), "r2")  # member, PIM owner: one group
    reads = _protection_reads(graph_emulator, before)
    assert reads.count("/v1.0/roleManagement/directory/roleAssignments") == 3
    assert reads.count("/v1.0/roleManagement/directory/roleEligibilityScheduleInstances") == 2


async def test_sweep_resets_share_the_tenant_wide_reads(
    protected: dict[str, str], graph_emulator: GraphEmulator, gateway: GraphGateway
):
    engine = ResetEngine(gateway, policy=policy(protected))
    for n, kind in enumerate(("ordinary", "reader", "idle_owner")):
        await engine.run(request(f"{kind}@{DOMAIN}"), f"s{n}", reuse_tenant_reads=True)
    listed = [r for r in graph_emulator.requests if r.path == "/v1.0/groups"]
    owners = [r for r in graph_emulator.requests if r.path.endswith("/owners")]
    nested = [r for r in graph_emulator.requests if r.path.endswith("/transitiveMembers")]
    # The protected group's owners and those of the group nested in it, once for the sweep.
    assert (len(listed), len(owners), len(nested)) == (1, 2, 1)

    # A webhook's reset reads afresh: a group owner added a moment ago is seen at once.
    graph_emulator.tenant.add_owner(protected["tier0_group"], protected["ordinary"])
    with pytest.raises(TargetProtectedError) as refused:
        await engine.run(request(f"ordinary@{DOMAIN}"), "w1")
    assert refused.value.reason == "group-owner"


USER_FILTER, GROUP_FILTER = "principalId eq '{user}'", "principalId eq '{group}'"
ASSIGNMENTS, ELIGIBILITIES = r"/roleAssignments$", r"/roleEligibilityScheduleInstances$"
GROUP_READ = "of a role-assignable group"


@pytest.mark.parametrize(
    ("path", "query", "read", "permission"),
    [
        (ASSIGNMENTS, USER_FILTER, "account's role assignments", ROLE_MANAGEMENT),
        (ELIGIBILITIES, USER_FILTER, "account's PIM role eligibilities", ROLE_MANAGEMENT),
        (r"/transitiveMemberOf/", None, "group memberships", GROUP_MEMBER),
        (r"/privilegedAccess/group/", None, "PIM for Groups", PIM_FOR_GROUPS),
        (r"^/v1\.0/groups$", None, "role-assignable groups and their owners", GROUP_MEMBER),
        (r"/owners$", None, "owners of a protected group", GROUP_MEMBER),
        (ASSIGNMENTS, GROUP_FILTER, f"role assignments {GROUP_READ}", ROLE_MANAGEMENT),
        (ELIGIBILITIES, GROUP_FILTER, f"PIM role eligibilities {GROUP_READ}", ROLE_MANAGEMENT),
    ],
)
@pytest.mark.parametrize("status", [403, 503])
async def test_every_read_fails_closed_and_says_which(
    protected: dict[str, str],
    graph_emulator: GraphEmulator,
    gateway: GraphGateway,
    path: str,
    query: str | None,
    read: str,
    permission: str,
    status: int,
):
    """``idle_member`` is protected by nothing, but is tied to a role-assignable group, so
    every read of the check is made for them; any one failing stops the reset."""
    user, group = protected["idle_member"], protected["spare_group"]
    graph_emulator.faults.add(
        Fault(
            path=path,
            query=query.format(user=user, group=group) if query else None,
            status=status,
            times=None,
            retry_after="0",
        )
    )
    with pytest.raises(ProtectionReadError) as failed:
        await ResetEngine(gateway, policy=policy(protected)).run(
            request(f"idle_member@{DOMAIN}"), "r1"
        )
    assert read in failed.value.read
    assert failed.value.permission == permission
    assert failed.value.status == status
    assert graph_emulator.writes() == []
    # Nothing of the account's methods was touched: the listing (and its hardware tokens,
    # through beta), read beside the protection check, is all that went near them.
    near = [r for r in graph_emulator.requests if "/authentication/" in r.path]
    assert {(r.method, r.path.rsplit("/", 1)[1]) for r in near} <= READS_OF_METHODS


async def test_refusal_is_a_403_problem_and_a_refused_ledger_row(
    protected: dict[str, str],
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level("INFO")
    body = {"user": f"viagroup_eligible@{DOMAIN}", "ticket_id": "INC8", "requested_by": "desk"}
    response, _ = await submit({**body, "mode": "sync"})

    assert response.status_code == 403
    problem = json.loads(response.get_body())
    assert problem["type"] == "urn:mfa-reset:problem:target-protected"
    assert problem["reason"] == "group-eligible-role"
    assert response.headers.get("Location") is None  # the problem itself is the answer
    assert graph_emulator.writes() == []

    # The same request again is a replay of the refused reset, not a second attempt.
    again, _ = await submit({**body, "mode": "sync"})
    assert again.status_code == 200
    record = json.loads(again.get_body())
    assert record["status"] == "refused"
    assert "group-eligible-role" in record["detail"]

    # Callers learn the kind of path, not which roles or groups make the tenant's admins;
    # the audit trail keeps the detail for the security team.
    for answer in (response, again):
        text = answer.get_body().decode()
        assert "Global Administrator" not in text and "Tier 0" not in text, text
    assert "Global Administrator" in caplog.text


async def test_a_failed_read_is_a_502_naming_the_read_and_the_permission(
    protected: dict[str, str], graph_emulator: GraphEmulator, app_env: StorageNames
):
    graph_emulator.faults.add(
        Fault(path=r"/privilegedAccess/group/", status=403, times=None, retry_after=None)
    )
    body = {"user": f"ordinary@{DOMAIN}", "ticket_id": "INC9", "requested_by": "desk"}
    response, _ = await submit({**body, "mode": "sync"})

    assert response.status_code == 502
    problem = json.loads(response.get_body())
    assert problem["type"] == "urn:mfa-reset:problem:protection-check-failed"
    assert problem["permission"] == PIM_FOR_GROUPS
    assert "PIM for Groups" in problem["failed_read"]
    assert problem["graph_error"]["status"] == 403
    assert graph_emulator.writes() == []


async def test_an_owner_past_the_twenty_that_graph_expands_is_still_found(
    graph_emulator: GraphEmulator, gateway: GraphGateway
):
    tenant = graph_emulator.tenant
    group = tenant.add_group("Tier 0 owners", role_assignable=True)
    tenant.add_directory_role(group.id, "Global Administrator", role_template_id=GLOBAL_ADMIN)
    owners = [seeded_user(tenant, f"owner{n}@{DOMAIN}") for n in range(22)]
    for owner in owners:
        tenant.add_owner(group.id, owner)
    with pytest.raises(TargetProtectedError) as refused:
        await ResetEngine(gateway).run(request(f"owner21@{DOMAIN}"), "r1")
    assert refused.value.reason == "group-owner"
    assert graph_emulator.writes() == []


async def test_a_queued_reset_whose_protection_read_is_denied_fails_naming_it(
    graph_emulator: GraphEmulator, app_env: StorageNames, queue_host: QueueHost
):
    """Asynchronous path: a missing permission (403) is not retried; the reset ends failed,
    nothing written, the read and the permission in the ledger."""
    graph_emulator.faults.add(
        Fault(path=r"/privilegedAccess/group/", status=403, times=None, retry_after=None)
    )
    body = {"user": "alex.wilber@contoso.example", "ticket_id": "INC10", "requested_by": "desk"}
    response, queue = await submit(body)
    assert response.status_code == 202
    await queue_host.send(app_env.queue, queue.get())
    await queue_host.drain(app_env.queue, handler("process_reset"))

    record = body_of(await status(body_of(response)["id"]))
    assert record["status"] == "failed"
    assert "PIM for Groups" in record["detail"]
    assert PIM_FOR_GROUPS in record["detail"]
    assert graph_emulator.writes() == []
