"""Plan ordering and the conflicts refused before any change."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.models import (
    V1_REMOVABLE_METHOD_TYPES,
    MethodType,
    PhoneType,
    RegisteredMethod,
    ResetRequest,
    StepAction,
)
from shared.reset.plan import MethodNotRemovableError, PlanConflictError, build_plan, type_name

MOBILE = "3179e48a-750b-4051-897c-87b9720928f7"
ALTERNATE = "b6332ec1-7057-4abe-9331-3d72feddfe41"
OFFICE = "e37fc753-ff3b-4958-9484-eaa9425c82bc"


def method(kind: MethodType | None, mid: str, phone: PhoneType | None = None) -> RegisteredMethod:
    odata = kind.odata_type if kind else "#microsoft.graph.futureSignInAuthenticationMethod"
    return RegisteredMethod(type=kind, odata_type=odata, id=mid, phone_type=phone)


EVERYTHING = [
    method(MethodType.phone, MOBILE, PhoneType.mobile),
    method(MethodType.email, "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"),
    method(MethodType.phone, OFFICE, PhoneType.office),
    method(MethodType.fido2, "f1"),
    method(MethodType.phone, ALTERNATE, PhoneType.alternate_mobile),
    method(MethodType.microsoft_authenticator, "a1"),
    method(MethodType.windows_hello_for_business, "w1"),
    method(MethodType.temporary_access_pass, "t1"),
    method(MethodType.software_oath, "o1"),
]
UNKNOWN = method(None, "u1")
HARDWARE = method(MethodType.hardware_oath, "h1")
WITH_BETA = frozenset(MethodType)


def request(**fields: Any) -> ResetRequest:
    body = {"user": "adele@contoso.com", "ticket_id": "INC1", "requested_by": "desk", **fields}
    return ResetRequest.model_validate_json(json.dumps(body))


def test_phones_go_last_alternate_office_mobile():
    plan = build_plan(request(), EVERYTHING)
    order = [m.id for m in plan.deletions]
    assert order[-3:] == [ALTERNATE, OFFICE, MOBILE]
    assert order[:2] == ["a1", "o1"]  # the lost phone's app goes first
    assert order.index("t1") < order.index(ALTERNATE)


def test_steps_run_deletes_then_revoke_then_new_credentials():
    plan = build_plan(
        request(new_phone={"number": "+12065550123"}, temporary_access_pass={}, mode="sync"),
        EVERYTHING,
    )
    actions = [s.action for s in plan.steps()]
    last_delete = max(i for i, a in enumerate(actions) if a is StepAction.delete_method)
    assert actions[last_delete + 1 :] == [
        StepAction.revoke_sessions,
        StepAction.add_phone,
        StepAction.create_temporary_access_pass,
    ]


def test_a_type_nobody_knows_refuses_a_reset_of_all_and_is_named():
    for removable in (V1_REMOVABLE_METHOD_TYPES, WITH_BETA):
        with pytest.raises(MethodNotRemovableError) as refused:
            build_plan(request(), [*EVERYTHING, UNKNOWN], removable=removable)
        assert [m.id for m in refused.value.methods] == ["u1"]
        assert "futureSignIn" in str(refused.value) and "id u1" in str(refused.value)
        assert "does not know" in str(refused.value)
    # keep_methods cannot keep a type the app does not know: still refused.
    with pytest.raises(MethodNotRemovableError):
        build_plan(request(keep_methods=["phone"]), [*EVERYTHING, UNKNOWN])


def test_a_hardware_token_without_beta_is_refused_unless_kept():
    with pytest.raises(MethodNotRemovableError) as refused:
        build_plan(request(), [*EVERYTHING, HARDWARE])
    assert "GRAPH_BETA_METHODS=true" in str(refused.value)
    with pytest.raises(MethodNotRemovableError):
        build_plan(request(remove_methods=["hardwareOath", "fido2"]), [*EVERYTHING, HARDWARE])
    kept = build_plan(request(keep_methods=["hardwareOath"]), [*EVERYTHING, HARDWARE])
    assert HARDWARE in kept.kept and HARDWARE not in kept.deletions


def test_with_beta_a_hardware_token_goes_with_the_app_based_methods():
    plan = build_plan(request(), [*EVERYTHING, HARDWARE], removable=WITH_BETA)
    order = [m.id for m in plan.deletions]
    assert order[:3] == ["a1", "o1", "h1"]
    assert not plan.kept


def test_a_listed_request_keeps_what_the_app_cannot_delete_and_says_so():
    listed = build_plan(request(remove_methods=["fido2"]), [*EVERYTHING, HARDWARE, UNKNOWN])
    assert [m.id for m in listed.deletions] == ["f1"]
    assert {"h1", "u1"} <= {m.id for m in listed.kept}
    assert not [s for s in listed.steps() if s.method_id in ("h1", "u1")]


def test_every_delete_step_carries_graphs_type():
    steps = build_plan(request(), EVERYTHING).steps()
    deletes = [s for s in steps if s.action is StepAction.delete_method]
    assert deletes and all(
        s.method_type is not None and s.odata_type == s.method_type.odata_type for s in deletes
    )


@pytest.mark.parametrize(
    ("odata_type", "name"),
    [
        ("#microsoft.graph.hardwareOathAuthenticationMethod", "hardwareOath"),
        ("#microsoft.graph.qrCodePinAuthenticationMethod", "qrCodePin"),
        ("#microsoft.graph.futureSignInAuthenticationMethod", "futureSignIn"),
        ("#microsoft.graph.somethingElse", "somethingElse"),
        ("", "unknown"),
    ],
)
def test_a_type_is_named_as_people_know_it(odata_type: str, name: str):
    assert type_name(odata_type) == name


def test_kept_types_are_never_in_the_plan():
    plan = build_plan(request(keep_methods=["windowsHelloForBusiness", "phone"]), EVERYTHING)
    ids = {m.id for m in plan.deletions}
    assert "w1" not in ids and MOBILE not in ids
    assert {"w1", MOBILE, OFFICE, ALTERNATE} <= {m.id for m in plan.kept}


def test_no_revoke_step_when_not_asked():
    plan = build_plan(request(revoke_sessions=False), EVERYTHING)
    assert StepAction.revoke_sessions not in [s.action for s in plan.steps()]


def test_new_phone_of_a_kept_type_is_a_conflict():
    with pytest.raises(PlanConflictError, match="keeps phones"):
        build_plan(
            request(keep_methods=["phone"], new_phone={"number": "+12065550123"}), EVERYTHING
        )


def test_alternate_mobile_needs_a_remaining_mobile():
    with pytest.raises(PlanConflictError, match="register the new number as mobile"):
        build_plan(
            request(new_phone={"number": "+12065550123", "type": "alternateMobile"}), EVERYTHING
        )
    only_mobile = [method(MethodType.phone, MOBILE, PhoneType.mobile)]
    plan = build_plan(
        request(
            keep_methods=["phone"], new_phone={"number": "+12065550123", "type": "alternateMobile"}
        ),
        only_mobile,
    )
    assert plan.new_phone is not None and plan.new_phone.type is PhoneType.alternate_mobile
