"""A reset in rounds: Graph round trips and ledger writes that do not grow with the number of
methods, and what a fault inside one batch does to the rest of it.

A round is one trip to Graph however many calls it carries (they leave as one ``$batch``), so
what a reset costs is its chain of rounds: read the user, read what protects them and what they
have registered, delete everything at once with the revocation beside it, delete what Graph
refused while others remained, add, verify.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator import Fault, GraphEmulator, Tenant
from emulator.requestlog import sequential_rounds
from shared.graph.gateway import GraphGateway
from shared.models import MethodType, Outcome, OutcomeStatus, ResetRequest, StepResult
from shared.reset.engine import ResetEngine

# The user: three phones (the mobile is the default), then the app-based methods.
KINDS: list[tuple[str, dict[str, Any]]] = [
    ("phone", {"phone_type": "mobile", "phone_number": "+1 2065550140"}),
    ("phone", {"phone_type": "alternateMobile", "phone_number": "+1 2065550141"}),
    ("phone", {"phone_type": "office", "phone_number": "+1 2065550142"}),
    ("microsoftAuthenticator", {}),
    ("softwareOath", {}),
    ("fido2", {}),
    ("email", {}),
    ("windowsHelloForBusiness", {}),
]


def seed(tenant: Tenant, name: str, k: int) -> tuple[str, str]:
    """A user with ``k`` methods, the mobile phone the default; returns (object id, UPN)."""
    user = tenant.add_user(f"{name}@contoso.example", display_name=name)
    for n in range(k):
        # Past the eight, more keys and tokens: one phone of each type, one e-mail a user.
        kind, props = KINDS[n] if n < len(KINDS) else (("fido2", "softwareOath")[n % 2], {})
        tenant.add_method(user.id, kind, default=n == 0, **props)
    return user.id, user.user_principal_name


def request(user: str, **fields: Any) -> ResetRequest:
    body = {"user": user, "ticket_id": "INC0012345", "requested_by": "desk@contoso.example"}
    return ResetRequest.model_validate_json(json.dumps({**body, "mode": "sync", **fields}))


class Rounds:
    """Counts the engine's progress reports: each is one ledger write in the runner."""

    def __init__(self) -> None:
        self.reports = 0

    async def __call__(self, outcome: Outcome) -> None:
        self.reports += 1


def only_password_left(tenant: Tenant, user_id: str) -> bool:
    kinds = {m["@odata.type"] for m in tenant.methods(user_id)}
    return kinds == {"#microsoft.graph.passwordAuthenticationMethod"}


@pytest.mark.parametrize("order", ["array", "reverse"])
async def test_round_trips_do_not_grow_with_the_number_of_methods(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway, order: str
):
    graph_emulator.batch_order = order
    # Each request takes a moment, so calls sent together overlap at the emulator: the beta
    # read of hardware tokens beside the v1.0 listing is part of that listing's round.
    graph_emulator.latency = 0.03
    trips: dict[tuple[str, int], int] = {}
    writes: dict[int, int] = {}
    for k in (2, 4, 8, 16):
        user_id, upn = seed(tenant, f"k{k}.{order}", k)
        for named, key in (("upn", upn), ("id", user_id)):
            if named == "id":  # a user like the first, named by object id
                user_id, _ = seed(tenant, f"k{k}.{order}.again", k)
                key = user_id
            graph_emulator.clear_log()
            rounds = Rounds()
            outcome = await ResetEngine(gateway).run(request(key), "r1", on_progress=rounds)
            assert outcome.status is OutcomeStatus.succeeded, outcome.detail
            assert only_password_left(tenant, user_id)
            trips[named, k] = sequential_rounds(graph_emulator.requests)
            beta = [r for r in graph_emulator.requests if r.path.startswith("/beta/")]
            assert [r.method for r in beta] == ["GET", "GET"]  # the tokens, with each listing
            assert graph_emulator.round_trips() == trips[named, k] + len(beta)
            writes[k] = rounds.reports
        # Every call of the reset went out in a batch but the first read of a UPN.
        assert max(graph_emulator.batch_sizes()) >= k

    by_upn = {k: n for (named, k), n in trips.items() if named == "upn"}
    by_id = {k: n for (named, k), n in trips.items() if named == "id"}
    assert max(by_upn.values()) <= 5, by_upn
    assert max(by_id.values()) <= 4, by_id
    assert len(set(by_upn.values())) == 1, (by_upn, by_id)  # the same for 2 methods as for 16
    assert len(set(by_id.values())) == 1, by_id
    assert all(n == by_id[k] + 1 for k, n in by_upn.items())  # the UPN costs one trip
    # One ledger write per round of changes: the deletions, and the refused ones if any.
    assert max(writes.values()) <= 2, writes


@pytest.mark.parametrize("order", ["array", "reverse", "random"])
@pytest.mark.parametrize("default", [0, 1, 3, 5, 6, 9])  # 9: a hardware token, through beta
async def test_every_method_type_goes_with_the_default_last_in_any_batch_order(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    beta_gateway: GraphGateway,
    order: str,
    default: int,
):
    graph_emulator.batch_order, graph_emulator.batch_seed = order, default
    user = tenant.add_user("all.types@contoso.example", display_name="All Types")
    ids = []
    for kind in MethodType:
        props: dict[str, Any] = (
            {"phone_type": "mobile", "phone_number": "+1 2065550140"} if kind == "phone" else {}
        )
        ids.append(tenant.add_method(user.id, kind.value, **props))
    tenant.add_method(user.id, "phone", phone_type="alternateMobile", phone_number="+1 2065550141")
    tenant.set_default(user.id, ids[default])

    outcome = await ResetEngine(beta_gateway).run(request(user.user_principal_name), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert only_password_left(tenant, user.id)
    refused = [r for r in graph_emulator.requests if r.status == 400]
    # Graph refused only what it must: the default while others remained, a mobile phone
    # while the alternate mobile remained. Nothing else failed, nothing was deleted twice.
    assert {r.path.rsplit("/", 1)[1] for r in refused} <= {ids[default], ids[0]}
    deleted = [r.path for r in graph_emulator.requests if r.method == "DELETE" and r.status == 204]
    assert len(deleted) == len(set(deleted)) == len(MethodType) + 1
    assert deleted[-1].endswith(ids[default]) or ids[default] not in {
        r.path.rsplit("/", 1)[1] for r in refused
    }


async def test_a_throttled_item_alone_is_sent_again_after_its_retry_after(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    user_id, upn = seed(tenant, "throttled", 8)
    graph_emulator.faults.add(
        Fault(method="DELETE", path="/fido2Methods/", status=429, retry_after="1", times=1)
    )
    outcome = await ResetEngine(gateway).run(request(upn), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert only_password_left(tenant, user_id)
    fido = [r for r in graph_emulator.requests if "/fido2Methods/" in r.path]
    assert [r.status for r in fido] == [429, 204]
    assert fido[0].batch_request_id is not None  # throttled inside the deletion batch
    assert fido[1].headers.get("retry-attempt") == "1"  # the SDK's retry, after Retry-After
    # Nothing else was sent twice: every other method was deleted once, in its batch.
    deletes = [r for r in graph_emulator.requests if r.method == "DELETE"]
    assert len([r for r in deletes if r.status == 204]) == 8
    assert len(deletes) == 8 + 1 + sum(1 for r in deletes if r.status == 400)
    step = next(s for s in outcome.steps if s.method_type is MethodType.fido2)
    assert step.result is StepResult.done and step.request_id


async def test_a_whole_batch_answered_503_is_sent_again(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    user_id, upn = seed(tenant, "unavailable", 8)
    graph_emulator.faults.add(
        Fault(method="POST", path=r"\$batch", status=503, retry_after="0", times=1)
    )
    outcome = await ResetEngine(gateway).run(request(upn), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert only_password_left(tenant, user_id)
    batches = [r for r in graph_emulator.requests if r.batch_id is None and "$batch" in r.path]
    assert batches[0].status == 503
    # The refused batch (the UPN's resolution and the tenant-wide read beside it) ran nothing.
    # Each of its two calls was made again by the SDK's retry handler, once, after its own
    # back-off: alone, or joining whatever left at that moment (on a busy machine, the
    # account's five reads); then the deletions; nothing was repeated (below).
    sizes = graph_emulator.batch_sizes()
    assert sizes[0] == 0 and sizes[-1] == 9, sizes
    assert 5 <= sum(sizes[1:-1]) <= 5 + 2, sizes
    calls = [
        (r.method, r.path, str(sorted(r.query.items())))
        for r in graph_emulator.requests
        if r.status and "$batch" not in r.path
    ]
    repeated = {call[1] for call in calls if calls.count(call) > 1}
    # Only the listing is read twice (with its hardware tokens, through beta): before the
    # deletions and to verify them.
    assert repeated == {
        f"/v1.0/users/{user_id}/authentication/methods",
        f"/beta/users/{user_id}/authentication/hardwareOathMethods",
    }
    assert tenant.revocations(user_id) == 1


async def test_a_batch_applied_then_dropped_finds_its_deletions_already_done(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    user_id, upn = seed(tenant, "dropped", 8)
    # The deletion batch is carried out by Graph, then the connection drops before its answer.
    graph_emulator.faults.add(
        Fault(method="DELETE", path="/fido2Methods/", drop_after=True, times=1)
    )
    outcome = await ResetEngine(gateway).run(request(upn), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert only_password_left(tenant, user_id)
    fido = [r for r in graph_emulator.requests if "/fido2Methods/" in r.path]
    assert [r.status for r in fido] == [204, 404]  # done, its answer lost, then already gone
    step = next(s for s in outcome.steps if s.method_type is MethodType.fido2)
    assert step.result is StepResult.already_absent
    assert outcome.sessions_revoked_at is not None
