"""The reset engine against the Graph emulator, through the real SDK and managed identity."""

from __future__ import annotations

import json
from typing import Any

import pytest

from emulator import Fault, GraphEmulator, Tenant
from shared.graph.client import GraphProvider
from shared.graph.contract import UserNotFoundError
from shared.graph.gateway import GraphGateway
from shared.models import (
    MethodType,
    OutcomeStatus,
    RegisteredMethod,
    ResetRequest,
    StepAction,
    StepResult,
)
from shared.reset.engine import ResetEngine
from shared.reset.plan import PlanConflictError, TapNotAllowedError
from shared.settings import Settings

ADELE = "adele.vance@contoso.example"
ALEX = "alex.wilber@contoso.example"
GUEST = "megan.bowen_fabrikam.example#EXT#@contoso.example"
MOBILE = "3179e48a-750b-4051-897c-87b9720928f7"
ALTERNATE = "b6332ec1-7057-4abe-9331-3d72feddfe41"
OFFICE = "e37fc753-ff3b-4958-9484-eaa9425c82bc"

COLLECTIONS = {
    MethodType.phone: "phoneMethods",
    MethodType.email: "emailMethods",
    MethodType.microsoft_authenticator: "microsoftAuthenticatorMethods",
    MethodType.software_oath: "softwareOathMethods",
    MethodType.fido2: "fido2Methods",
    MethodType.windows_hello_for_business: "windowsHelloForBusinessMethods",
    MethodType.temporary_access_pass: "temporaryAccessPassMethods",
    MethodType.platform_credential: "platformCredentialMethods",
    MethodType.external_authentication: "externalAuthenticationMethods",
    MethodType.hardware_oath: "hardwareOathMethods",  # through beta
}


def request(user: str = ADELE, **fields: Any) -> ResetRequest:
    # The engine runs the same way in both modes; "sync" allows a Temporary Access Pass.
    body = {
        "user": user,
        "ticket_id": "INC0012345",
        "requested_by": "desk@contoso.example",
        "mode": "sync",
    }
    return ResetRequest.model_validate_json(json.dumps({**body, **fields}))


def deletes(emu: GraphEmulator) -> list[str]:
    """Decoded paths of the DELETE requests Graph answered with 204, in order."""
    return [r.path for r in emu.requests if r.method == "DELETE" and r.status == 204]


def kinds_left(tenant: Tenant, user_id: str) -> set[str]:
    return {m["@odata.type"] for m in tenant.methods(user_id)}


async def test_every_method_type_is_deleted_through_its_own_endpoint(
    tenant: Tenant, graph_emulator: GraphEmulator, beta_gateway: GraphGateway
):
    user = tenant.add_user("all.types@contoso.example", display_name="All Types")
    default = tenant.add_method(
        user.id, "phone", phone_type="mobile", phone_number="+1 2065550140", default=True
    )
    for kind in MethodType:
        if kind is not MethodType.phone:
            tenant.add_method(user.id, kind.value)
    outcome = await ResetEngine(beta_gateway).run(request(user.user_principal_name), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert outcome.remaining_methods == []
    assert kinds_left(tenant, user.id) == {"#microsoft.graph.passwordAuthenticationMethod"}
    deleted = deletes(graph_emulator)
    for kind, collection in COLLECTIONS.items():
        assert any(f"/authentication/{collection}/" in p for p in deleted), kind
    assert f"/v1.0/users/{user.id}/authentication/qrCodePinMethod" in deleted  # a singleton
    assert all(p.startswith("/v1.0/") != ("/hardwareOathMethods/" in p) for p in deleted)
    assert deleted[-1].endswith(f"/phoneMethods/{default}")
    # The password is never touched, and the generic endpoint Graph lacks is never called.
    assert not [r for r in graph_emulator.writes() if "passwordMethods" in r.path]
    assert not [r for r in graph_emulator.writes() if "/authentication/methods/" in r.path]
    assert tenant.revocations(user.id) == 1
    assert outcome.sessions_revoked_at is not None


async def test_phones_are_deleted_alternate_office_then_mobile(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    adele = tenant.user(ADELE)
    assert adele is not None and tenant.default_method(adele.id) == MOBILE
    outcome = await ResetEngine(gateway).run(request(), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    phones = [p.rsplit("/", 1)[1] for p in deletes(graph_emulator) if "/phoneMethods/" in p]
    assert phones == [ALTERNATE, OFFICE, MOBILE]
    # Phones go last, so the default mobile is the last method and Graph lets it go at once.
    assert deletes(graph_emulator)[-1].endswith(MOBILE)
    assert not [r for r in graph_emulator.requests if r.status == 400]
    assert kinds_left(tenant, adele.id) == {"#microsoft.graph.passwordAuthenticationMethod"}


async def test_default_office_phone_is_refused_then_deleted_last(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    adele = tenant.user(ADELE)
    assert adele is not None
    tenant.set_default(adele.id, OFFICE)
    outcome = await ResetEngine(gateway).run(request(), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    office_calls = [r for r in graph_emulator.requests if r.path.endswith(OFFICE)]
    assert [r.status for r in office_calls] == [400, 204]
    assert deletes(graph_emulator)[-1].endswith(OFFICE)
    step = next(s for s in outcome.steps if s.method_id == OFFICE)
    assert step.result is StepResult.done and step.error is None
    assert "after the other methods" in (step.detail or "")


async def test_default_authenticator_app_is_deleted_last(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    alex = tenant.user(ALEX)
    assert alex is not None
    default = tenant.default_method(alex.id)
    outcome = await ResetEngine(gateway).run(request(ALEX), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert deletes(graph_emulator)[-1].endswith(f"/microsoftAuthenticatorMethods/{default}")
    first_try = next(r for r in graph_emulator.requests if r.method == "DELETE")
    assert first_try.path.endswith(str(default)) and first_try.status == 400


class _AnotherAdminIsFaster(GraphGateway):
    """Lists like the real gateway, then lets "another admin" delete the FIDO2 key first."""

    async def list_methods(self, user_id: str) -> list[RegisteredMethod]:
        methods = await super().list_methods(user_id)
        if not getattr(self, "raced", False):
            self.raced = True
            for method in methods:
                if method.type is MethodType.fido2:
                    await super().delete_method(user_id, method)
        return methods


async def test_a_method_already_gone_counts_as_absent(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    racing = _AnotherAdminIsFaster(
        gateway._client, graph_emulator.base_url, beta_url=f"{graph_emulator.origin}/beta"
    )
    outcome = await ResetEngine(racing).run(request(ALEX), "r1")

    fido_calls = [r for r in graph_emulator.requests if "/fido2Methods/" in r.path]
    assert [r.status for r in fido_calls] == [204, 404]
    step = next(s for s in outcome.steps if s.method_type is MethodType.fido2)
    assert step.result is StepResult.already_absent
    assert step.error is None
    assert outcome.status is OutcomeStatus.succeeded, outcome.detail


async def test_throttled_delete_is_retried_after_retry_after(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    graph_emulator.faults.add(
        Fault(method="DELETE", path="/fido2Methods/", status=429, retry_after="1", times=1)
    )
    outcome = await ResetEngine(gateway).run(request(ALEX), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    fido_calls = [r for r in graph_emulator.requests if "/fido2Methods/" in r.path]
    assert [r.status for r in fido_calls] == [429, 204]
    assert fido_calls[1].headers.get("retry-attempt") == "1"


async def test_graph_unavailable_ends_failed_with_what_remains(
    tenant: Tenant,
    graph_emulator: GraphEmulator,
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("GRAPH_MAX_RETRIES", "1")
    provider = GraphProvider(Settings.from_environ())
    graph_emulator.faults.add(Fault(method="DELETE", status=503, retry_after="0", times=None))
    try:
        outcome = await ResetEngine(await provider.gateway()).run(request(ALEX), "r1")
    finally:
        await provider.close()

    assert outcome.status is OutcomeStatus.failed
    assert outcome.retryable
    deletions = [s for s in outcome.steps if s.action is StepAction.delete_method]
    # The deletions of a round go out together: each met the outage, each says so.
    for step in deletions:
        assert step.result is StepResult.failed
        assert step.error is not None and step.error.status == 503
        assert step.error.request_id  # what an admin quotes to Microsoft support
    # The revocation rode in the same round; Graph served it.
    revoke = next(s for s in outcome.steps if s.action is StepAction.revoke_sessions)
    assert revoke.result is StepResult.done
    # Each delete tried twice (one retry), the revocation once, then no further round.
    deletes = [r for r in graph_emulator.writes() if r.method == "DELETE"]
    assert len(deletes) == 2 * len(deletions)
    assert len(graph_emulator.writes()) == len(deletes) + 1
    assert outcome.remaining_methods_verified
    assert outcome.remaining_methods is not None and len(outcome.remaining_methods) == 3
    assert "3 selected method(s) remain" in (outcome.detail or "")


async def test_a_dropped_connection_on_delete_is_retried_once(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    graph_emulator.faults.add(Fault(method="DELETE", path="/fido2Methods/", drop=True, times=1))
    outcome = await ResetEngine(gateway).run(request(ALEX), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    fido_calls = [r for r in graph_emulator.requests if "/fido2Methods/" in r.path]
    assert [r.status for r in fido_calls] == [0, 204]


async def test_a_dropped_connection_on_a_new_credential_is_not_replayed(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    graph_emulator.faults.add(
        Fault(method="POST", path="/temporaryAccessPassMethods$", drop=True, times=1)
    )
    outcome = await ResetEngine(gateway).run(request(ALEX, temporary_access_pass={}), "r1")

    assert outcome.status is OutcomeStatus.failed
    tap_posts = [
        r for r in graph_emulator.requests if r.path.endswith("temporaryAccessPassMethods")
    ]
    assert len(tap_posts) == 1
    step = outcome.steps[-1]
    assert step.result is StepResult.failed
    assert step.error is not None
    assert step.error.code == "connectionFailed"
    assert step.error.status is None


async def test_guest_user_is_addressed_by_its_ext_upn_and_not_revoked(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    outcome = await ResetEngine(gateway).run(request(GUEST), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    lookup = next(r for r in graph_emulator.requests if r.path.startswith("/v1.0/users"))
    assert "%23EXT%23" in lookup.raw_path
    assert lookup.status == 200
    assert outcome.user.user_principal_name == GUEST
    revoke = next(s for s in outcome.steps if s.action is StepAction.revoke_sessions)
    assert revoke.result is StepResult.skipped
    assert "home tenant" in (revoke.detail or "")
    assert not [r for r in graph_emulator.requests if "revokeSignInSessions" in r.path]
    assert outcome.sessions_revoked_at is None


async def test_guest_gets_no_temporary_access_pass(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    with pytest.raises(PlanConflictError, match="guest"):
        await ResetEngine(gateway).run(request(GUEST, temporary_access_pass={}), "r1")
    assert graph_emulator.writes() == []


async def test_dollar_upn_uses_the_key_syntax(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    outcome = await ResetEngine(gateway).run(request("$svc.desk@contoso.example"), "r1")

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    lookup = next(r for r in graph_emulator.requests if r.path.startswith("/v1.0/users"))
    assert lookup.path.endswith("/users('$svc.desk@contoso.example')")
    assert lookup.status == 200


async def test_apostrophe_upn(tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway):
    outcome = await ResetEngine(gateway).run(request("patti.o'brien@contoso.example"), "r1")
    assert outcome.status is OutcomeStatus.succeeded, outcome.detail


async def test_unknown_user_changes_nothing(graph_emulator: GraphEmulator, gateway: GraphGateway):
    with pytest.raises(UserNotFoundError):
        await ResetEngine(gateway).run(request("nobody@contoso.example"), "r1")
    assert graph_emulator.writes() == []


async def test_dry_run_plans_everything_and_writes_nothing(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    outcome = await ResetEngine(gateway).run(
        request(dry_run=True, new_phone={"number": "+14255550199"}, temporary_access_pass={}),
        "r1",
    )

    assert outcome.status is OutcomeStatus.planned
    assert graph_emulator.writes() == []
    # Reads only: the items of any batch are GETs (the batch itself is a POST by protocol).
    assert {r.method for r in graph_emulator.requests if r.batch_id is not None} <= {"GET"}
    assert {r.method for r in graph_emulator.requests if not r.path.endswith("$batch")} == {"GET"}
    assert all(s.result is StepResult.planned for s in outcome.steps)
    actions = [s.action for s in outcome.steps]
    assert actions[-3:] == [
        StepAction.revoke_sessions,
        StepAction.add_phone,
        StepAction.create_temporary_access_pass,
    ]
    assert len(outcome.remaining_methods or []) == 8


async def test_kept_methods_are_not_touched(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    # Graph may count only phone, app and OATH methods as blocking the default's deletion.
    tenant.default_blocking_kinds = frozenset({"phone", "microsoftAuthenticator", "softwareOath"})
    outcome = await ResetEngine(gateway).run(
        request(keep_methods=["windowsHelloForBusiness", "fido2"]), "r1"
    )

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert not [p for p in deletes(graph_emulator) if "windowsHello" in p or "fido2" in p]
    assert {m.type for m in outcome.remaining_methods or []} == {
        MethodType.windows_hello_for_business,
        MethodType.fido2,
    }


async def test_kept_method_blocking_the_default_fails_clearly(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    # The documented reading: any other method blocks deleting the default.
    outcome = await ResetEngine(gateway).run(request(keep_methods=["fido2"]), "r1")

    assert outcome.status is OutcomeStatus.failed
    mobile = next(s for s in outcome.steps if s.method_id == MOBILE)
    assert mobile.result is StepResult.failed
    assert mobile.error is not None and mobile.error.status == 400
    assert "default method" in (mobile.detail or "")
    assert "kept" in (mobile.detail or "")
    assert not [p for p in deletes(graph_emulator) if "fido2" in p]
    assert [m.id for m in outcome.remaining_methods or [] if m.type is MethodType.phone] == [MOBILE]
    # Everything else was still done.
    assert tenant.revocations(outcome.user.id) == 1


async def test_new_phone_and_temporary_access_pass(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    adele = tenant.user(ADELE)
    assert adele is not None
    outcome = await ResetEngine(gateway).run(
        request(
            new_phone={"number": "+14255550199"},
            temporary_access_pass={"lifetime_minutes": 120, "usable_once": True},
        ),
        "r1",
    )

    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    phones = [m for m in tenant.methods(adele.id) if "phone" in m["@odata.type"]]
    assert [(p["phoneType"], p["phoneNumber"]) for p in phones] == [("mobile", "+1 4255550199")]
    tap_value = tenant.last_tap_value(adele.id)
    assert tap_value
    response = outcome.to_response()
    assert response["temporary_access_pass"]["value"] == tap_value
    assert response["temporary_access_pass"]["lifetime_minutes"] == 120
    assert tap_value not in json.dumps(outcome.to_record())
    assert tap_value not in repr(outcome)
    # The new phone and the pass are what the reset added: they remain and that is success.
    assert {m.type for m in outcome.remaining_methods or []} == {
        MethodType.phone,
        MethodType.temporary_access_pass,
    }
    posts = [r.path.rsplit("/", 1)[1] for r in graph_emulator.writes() if r.method == "POST"]
    assert posts == ["revokeSignInSessions", "phoneMethods", "temporaryAccessPassMethods"]


async def test_revoke_answered_with_204_is_success(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    tenant.revoke_returns_204 = True
    outcome = await ResetEngine(gateway).run(request(ALEX), "r1")
    assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert outcome.sessions_revoked_at is not None


async def test_a_pass_the_policy_refuses_stops_the_reset_before_any_change(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    tenant.tap_policy.enabled = False
    with pytest.raises(TapNotAllowedError) as refused:
        await ResetEngine(gateway).run(request(ALEX, temporary_access_pass={}), "r1")

    assert refused.value.rule == "tap-policy-disabled"
    assert graph_emulator.writes() == []  # the user keeps every method


async def test_a_pass_graph_refuses_anyway_fails_the_reset(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    """The policy read is the first line; Graph's own refusal (a policy changed a moment ago)
    still ends the reset failed, saying what was done."""
    graph_emulator.faults.add(
        Fault(method="POST", path="/temporaryAccessPassMethods$", status=400, retry_after=None)
    )
    outcome = await ResetEngine(gateway).run(request(ALEX, temporary_access_pass={}), "r1")

    assert outcome.status is OutcomeStatus.failed
    tap_step = outcome.steps[-1]
    assert tap_step.action is StepAction.create_temporary_access_pass
    assert tap_step.result is StepResult.failed
    assert outcome.temporary_access_pass is None
    assert "create_temporary_access_pass" in (outcome.detail or "")


async def test_token_is_fetched_once_for_many_resets(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    engine = ResetEngine(gateway)
    for user in (ADELE, ALEX, "patti.o'brien@contoso.example"):
        outcome = await engine.run(request(user), "r")
        assert outcome.status is OutcomeStatus.succeeded, outcome.detail
    assert len(graph_emulator.token_requests) == 1
    # The scope comes from GRAPH_BASE_URL's host, so the token's audience is that host.
    assert graph_emulator.token_requests[0]["resource"] == graph_emulator.origin
    # Every trip to Graph carries the token (a batch's items travel under the batch's).
    trips = [r for r in graph_emulator.requests if r.batch_id is None]
    assert all(r.headers["authorization"].startswith("Bearer ") for r in trips)
    # And the token never travels inside a batch's body, per item.
    assert not [r for r in graph_emulator.requests if r.batch_id and "authorization" in r.headers]


async def test_user_assigned_identity_sends_its_client_id(
    graph_emulator: GraphEmulator, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AZURE_CLIENT_ID", "0f8fad5b-d9cb-469f-a165-70867728950e")
    provider = GraphProvider(Settings.from_environ())
    try:
        await (await provider.gateway()).get_user(ADELE)
    finally:
        await provider.close()
    assert graph_emulator.token_requests[0]["client_id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"


async def test_a_resumed_reset_keeps_what_it_added_and_repeats_nothing(
    tenant: Tenant, graph_emulator: GraphEmulator, gateway: GraphGateway
):
    engine = ResetEngine(gateway)
    wanted = request(ALEX, new_phone={"number": "+14255550199"})
    first = await engine.run(wanted, "r1")
    assert first.status is OutcomeStatus.succeeded, first.detail
    graph_emulator.clear_log()

    # The same reset delivered again with what the first attempt recorded: the new mobile
    # has the id of the old one, yet must not be taken for an old method and deleted.
    again = await engine.run(wanted, "r1", prior=first)

    assert again.status is OutcomeStatus.succeeded, again.detail
    assert graph_emulator.writes() == []
    assert [s.result for s in again.steps] == [s.result for s in first.steps]
    alex = tenant.user(ALEX)
    assert alex is not None
    phones = [m for m in tenant.methods(alex.id) if "phone" in m["@odata.type"]]
    assert [p["phoneNumber"] for p in phones] == ["+1 4255550199"]
