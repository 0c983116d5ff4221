"""Protected targets are refused before any write, through the real SDK against the emulator."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from emulator import GraphEmulator, Tenant
from shared.graph.gateway import GraphGateway
from shared.guards import DEFAULT_POLICY, TargetPolicy, TargetProtectedError
from shared.models import OutcomeStatus, ResetRequest
from shared.reset.engine import ResetEngine
from tests.support.app import handler
from tests.support.bindings import Out
from tests.support.fixtures import StorageNames

GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
USER_ADMIN = "fe930be7-5e62-47db-91af-98c3a49a38b1"
HELPDESK_ADMIN = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
REPORTS_READER = "4a5d8f65-41da-4de4-8968-e035b65339cf"


def request(user: str) -> ResetRequest:
    body = {"user": user, "ticket_id": "INC7", "requested_by": "desk", "mode": "sync"}
    return ResetRequest.model_validate_json(json.dumps(body))


def seeded_user(tenant: Tenant, upn: str) -> str:
    user = tenant.add_user(upn)
    tenant.add_method(user.id, "phone", phone_type="mobile", phone_number="+1 2065550177")
    return user.id


@pytest.fixture
def protected(tenant: Tenant) -> dict[str, str]:
    """One account per kind of protection, each with a phone the reset would delete."""
    ids = {
        kind: seeded_user(tenant, f"{kind}@contoso.example")
        for kind in ("active", "eligible", "viagroup", "nested", "denied", "reader")
    }
    tenant.add_directory_role(ids["active"], "Global Administrator", role_template_id=GLOBAL_ADMIN)
    tenant.add_eligible_role(ids["eligible"], "User Administrator", role_definition_id=USER_ADMIN)
    admins = tenant.add_group("Helpdesk admins", role_assignable=True)
    tenant.add_member(admins.id, ids["viagroup"])
    tenant.add_directory_role(admins.id, "Helpdesk Administrator", role_template_id=HELPDESK_ADMIN)
    executives = tenant.add_group("Executives")
    board = tenant.add_group("Board")
    tenant.add_member(executives.id, board.id)
    tenant.add_member(board.id, ids["nested"])
    tenant.add_directory_role(ids["reader"], "Reports Reader", role_template_id=REPORTS_READER)
    ids["executives_group"] = executives.id
    return ids


def policy(protected: dict[str, str]) -> TargetPolicy:
    return TargetPolicy(
        denied=frozenset({"denied@contoso.example"}),
        protected_group_ids=frozenset({protected["executives_group"]}),
        allowed_role_template_ids=frozenset({REPORTS_READER}),
    )


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("active", "directory-role"),
        ("eligible", "eligible-role"),
        ("viagroup", "directory-role"),
        ("nested", "protected-group"),
        ("denied", "denied"),
    ],
)
async def test_protected_accounts_are_refused_before_any_write(
    protected: dict[str, str],
    graph_emulator: GraphEmulator,
    gateway: GraphGateway,
    kind: str,
    reason: str,
):
    engine = ResetEngine(gateway, policy=policy(protected))
    with pytest.raises(TargetProtectedError) as refused:
        await engine.run(request(f"{kind}@contoso.example"), "r1")

    assert refused.value.reason == reason
    assert graph_emulator.writes() == []
    assert not [r for r in graph_emulator.requests if "/authentication/" in r.path]


async def test_roles_protect_by_default(
    protected: dict[str, str], graph_emulator: GraphEmulator, gateway: GraphGateway
):
    with pytest.raises(TargetProtectedError, match="Reports Reader"):
        await ResetEngine(gateway, policy=DEFAULT_POLICY).run(
            request("reader@contoso.example"), "r1"
        )
    assert graph_emulator.writes() == []


async def test_allowed_role_and_plain_users_are_reset(
    protected: dict[str, str], graph_emulator: GraphEmulator, gateway: GraphGateway
):
    engine = ResetEngine(gateway, policy=policy(protected))
    for upn in ("reader@contoso.example", "alex.wilber@contoso.example"):
        outcome = await engine.run(request(upn), "r1")
        assert outcome.status is OutcomeStatus.succeeded, outcome.detail


async def test_refusal_is_a_403_problem_and_a_refused_ledger_row(
    protected: dict[str, str], graph_emulator: GraphEmulator, app_env: StorageNames
):
    body = {"user": "active@contoso.example", "ticket_id": "INC8", "requested_by": "desk"}
    post = func.HttpRequest(
        method="POST",
        url="/api/resets",
        headers={"Content-Type": "application/json"},
        body=json.dumps({**body, "mode": "sync"}).encode(),
    )
    response = await handler("submit_reset")(post, Out())

    assert response.status_code == 403
    problem = json.loads(response.get_body())
    assert problem["type"] == "urn:mfa-reset:problem:target-protected"
    assert problem["reason"] == "directory-role"
    location = response.headers.get("Location")
    assert location is None  # the problem itself is the answer
    assert graph_emulator.writes() == []

    # The same request again is a replay of the refused reset, not a second attempt.
    again = await handler("submit_reset")(post, Out())
    assert again.status_code == 200
    record = json.loads(again.get_body())
    assert record["status"] == "refused"
    assert "directory roles" in record["detail"]
