"""Every method a user can hold, through the functions: hardware OATH tokens through Graph beta
when the operator allows it (GRAPH_BETA_METHODS=true), QR code + PIN through v1.0.

With beta allowed, a hardware token is listed and unassigned through beta in the same rounds as
the v1.0 deletions (its own ``/beta/$batch`` or call beside the v1.0 batch: Graph documents no
batch that mixes versions), under the same default-last rule, and the outcome says the token can
be handed out again. QR code + PIN has a documented v1.0 delete, so it goes with or without beta.
"""

from __future__ import annotations

from typing import Any

import pytest

from emulator import Fault, GraphEmulator, Tenant
from emulator.requestlog import RecordedRequest, sequential_rounds
from shared.settings import get_settings
from tests.integration.test_unremovable_methods import ODATA, reset_of, seed
from tests.support.fixtures import StorageNames
from tests.support.http import body_of, problem, submit

PASSWORD = "#microsoft.graph.passwordAuthenticationMethod"


@pytest.fixture
def beta(app_env: StorageNames, monkeypatch: pytest.MonkeyPatch) -> StorageNames:
    monkeypatch.setenv("GRAPH_BETA_METHODS", "true")
    get_settings.cache_clear()
    return app_env


def only_password_left(tenant: Tenant, user_id: str) -> bool:
    return [m["@odata.type"] for m in tenant.methods(user_id)] == [PASSWORD]


def deletes(graph_emulator: GraphEmulator) -> list[str]:
    """The paths of the deletions Graph carried out, in the order it did them."""
    return [r.path for r in graph_emulator.requests if r.method == "DELETE" and r.status == 204]


@pytest.mark.parametrize("beside_phone", [False, True])
async def test_a_hardware_token_is_unassigned_last_when_it_is_the_default_and_kept_in_inventory(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames, beside_phone: bool
):
    user_id, token = seed(tenant, "hardwareOath", beside_phone=beside_phone)

    response, _ = await submit(reset_of("hardwareoath.user@contoso.example", "INC0263"))

    assert response.status_code == 200, response.get_body()
    outcome = body_of(response)
    assert outcome["status"] == "succeeded", outcome
    assert only_password_left(tenant, user_id)
    (step,) = [s for s in outcome["steps"] if s.get("method_id") == token]
    assert step["method_type"] == "hardwareOath" and step["odata_type"] == ODATA["hardwareOath"]
    assert "can be handed out again" in step["detail"]
    assert tenant.token_inventory[token]["assignedTo"] is None
    done = deletes(graph_emulator)
    unassigned = [p for p in done if p.endswith(f"/hardwareOathMethods/{token}")]
    assert unassigned == [f"/beta/users/{user_id}/authentication/hardwareOathMethods/{token}"]
    # The default goes last: the token when it is the default, else the phone after it.
    assert done[-1].endswith(token) is not beside_phone
    assert outcome["remaining_methods"] == [] and outcome["remaining_methods_verified"]


async def test_a_token_costs_one_round_more_at_most(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames
):
    graph_emulator.latency = 0.05
    plain = tenant.add_user("plain.user@contoso.example", display_name="Plain")
    tenant.add_method(plain.id, "microsoftAuthenticator")
    tenant.add_method(plain.id, "phone", phone_number="+1 2065550142", default=True)
    seed(tenant, "hardwareOath", beside_phone=True)

    response, _ = await submit(reset_of("plain.user@contoso.example", "INC0264"))
    assert body_of(response)["status"] == "succeeded"
    without = sequential_rounds(graph_emulator.requests)
    graph_emulator.clear_log()
    response, _ = await submit(reset_of("hardwareoath.user@contoso.example", "INC0265"))
    assert body_of(response)["status"] == "succeeded"
    with_token = sequential_rounds(graph_emulator.requests)

    assert without <= with_token <= without + 1, (without, with_token)
    beta_calls = [r for r in graph_emulator.requests if r.path.startswith("/beta/")]
    assert {r.method for r in beta_calls} == {"GET", "DELETE"}


async def test_a_qr_code_pin_method_is_deleted_through_v1_with_or_without_beta(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    app_env: StorageNames,
    monkeypatch: pytest.MonkeyPatch,
):
    for allowed in ("false", "true"):
        monkeypatch.setenv("GRAPH_BETA_METHODS", allowed)
        get_settings.cache_clear()
        user = tenant.add_user(f"qr.{allowed}@contoso.example", display_name="QR")
        tenant.add_method(user.id, "microsoftAuthenticator")
        tenant.add_method(user.id, "phone", phone_number="+1 2065550143", default=True)
        qr = tenant.add_method(user.id, "qrCodePin")

        response, _ = await submit(reset_of(user.user_principal_name, f"INC0266{allowed}"))

        outcome = body_of(response)
        assert outcome["status"] == "succeeded", outcome
        assert only_password_left(tenant, user.id)
        (step,) = [s for s in outcome["steps"] if s.get("method_id") == qr]
        assert step["method_type"] == "qrCodePin" and step["result"] == "done"
        assert f"/v1.0/users/{user.id}/authentication/qrCodePinMethod" in deletes(graph_emulator)


async def test_a_dry_run_shows_the_token_s_unassignment_and_changes_nothing(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames
):
    user_id, token = seed(tenant, "hardwareOath", beside_phone=True)
    before = tenant.methods(user_id)

    response, _ = await submit(
        reset_of("hardwareoath.user@contoso.example", "INC0267", dry_run=True)
    )

    outcome = body_of(response)
    assert outcome["status"] == "planned", outcome
    planned = {s["method_id"]: s for s in outcome["steps"] if s["action"] == "delete_method"}
    assert planned[token]["method_type"] == "hardwareOath"
    assert planned[token]["result"] == "planned"
    assert graph_emulator.writes() == [] and tenant.methods(user_id) == before


async def test_remove_methods_and_keep_methods_name_hardware_tokens(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames
):
    user_id, token = seed(tenant, "hardwareOath", beside_phone=True)
    only_token = {"remove_methods": ["hardwareOath"]}

    response, _ = await submit(
        reset_of("hardwareoath.user@contoso.example", "INC0268", **only_token)
    )

    outcome = body_of(response)
    assert outcome["status"] == "succeeded", outcome
    left = {m["@odata.type"] for m in tenant.methods(user_id)}
    assert ODATA["hardwareOath"] not in left
    assert "#microsoft.graph.phoneAuthenticationMethod" in left
    assert [s["method_id"] for s in outcome["steps"] if s["action"] == "delete_method"] == [token]


async def test_a_type_nobody_knows_is_refused_up_front_with_beta_too(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames
):
    user_id, held = seed(tenant, "futureType", beside_phone=True)
    tenant.add_method(user_id, "hardwareOath")

    response, _ = await submit(reset_of("futuretype.user@contoso.example", "INC0269"))

    assert response.status_code == 409, response.get_body()
    (named,) = problem(response)["methods"]
    assert named["id"] == held and "does not know" in named["reason"]
    assert graph_emulator.writes() == []


async def test_with_beta_a_failed_token_read_fails_the_reset_before_any_change(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames
):
    seed(tenant, "hardwareOath", beside_phone=True)
    graph_emulator.faults.add(
        Fault(method="GET", path=r"^/beta/.*/hardwareOathMethods$", status=403, times=None)
    )

    response, _ = await submit(reset_of("hardwareoath.user@contoso.example", "INC0270"))

    body: dict[str, Any] = body_of(response)
    assert response.status_code == 502, body
    assert graph_emulator.writes() == []


async def test_a_round_sends_one_batch_per_graph_version_never_a_mixed_one(
    tenant: Tenant, graph_emulator: GraphEmulator, beta: StorageNames
):
    user_id, first = seed(tenant, "hardwareOath", beside_phone=True)
    second = tenant.add_method(user_id, "hardwareOath")

    response, _ = await submit(reset_of("hardwareoath.user@contoso.example", "INC0271"))

    assert body_of(response)["status"] == "succeeded"
    batches = [r for r in graph_emulator.requests if r.batch_id is None and "$batch" in r.path]
    versions: dict[str, list[RecordedRequest]] = {}
    for batch in batches:
        version = batch.path.split("/")[1]
        items = graph_emulator.batch_items(batch)
        assert all(item.path.startswith(f"/{version}/") for item in items), batch.path
        versions.setdefault(version, []).extend(items)
    unassigned = {i.path.rsplit("/", 1)[1] for i in versions["beta"] if i.method == "DELETE"}
    assert unassigned == {first, second}
    assert any(i.method == "DELETE" for i in versions["v1.0"])
