"""From a request and the user's registered methods to an ordered list of steps.

The order carries Graph's rules, so it lives in one pure function that a dry run can show and a
test can check without a tenant:

- deletions first, phones last and among them ``alternateMobile`` -> ``office`` -> ``mobile``
  (Graph refuses to delete a mobile while an alternate mobile exists);
- the user's default method cannot be deleted while others remain and Graph v1.0 cannot say which
  one it is, so the engine defers whichever deletion Graph refuses for that reason to the end;
- then revoke the sessions, then add the new phone and issue the Temporary Access Pass, so that the
  new credentials are not revoked or deleted by the reset itself.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.graph.contract import TapPolicy
from shared.models import (
    BETA_ONLY_METHOD_TYPES,
    PHONE_DELETE_ORDER,
    V1_REMOVABLE_METHOD_TYPES,
    MethodType,
    NewPhone,
    PhoneType,
    RegisteredMethod,
    ResetRequest,
    Step,
    StepAction,
    StepResult,
    TemporaryAccessPassRequest,
)

# Non-phone methods in the order they go. Strong, device-bound credentials and the fallbacks a user
# signs in with today come first; the TAP goes last but for phones so a pass being used right now
# keeps working as long as possible.
DELETE_ORDER: tuple[MethodType, ...] = (
    MethodType.microsoft_authenticator,
    MethodType.software_oath,
    MethodType.hardware_oath,
    MethodType.fido2,
    MethodType.windows_hello_for_business,
    MethodType.platform_credential,
    MethodType.external_authentication,
    MethodType.qr_code_pin,
    MethodType.email,
    MethodType.temporary_access_pass,
    MethodType.phone,
)


class PlanConflictError(Exception):
    """The request cannot be carried out on this user as asked; nothing has been changed."""


class MethodNotRemovableError(PlanConflictError):
    """The user holds a method this app cannot delete, and the request would remove it.

    A reset that went ahead would delete what it can and then fail on whatever Graph refuses
    while that method remains (the default method is deleted last, and Graph refuses to delete
    the default while any other method is there): the user is left half reset. So it is refused
    before any change, naming each method by Graph's ``@odata.type`` and id and saying why.
    That covers hardware OATH tokens while beta is not allowed (Graph manages them under beta
    only: https://learn.microsoft.com/graph/api/authentication-delete-hardwareoathmethods?view=graph-rest-beta)
    and any type Graph adds after this app was written.
    """

    def __init__(self, methods: tuple[RegisteredMethod, ...]) -> None:
        self.methods = methods
        named = "; ".join(
            f"{type_name(m.odata_type)} ({m.odata_type}, id {m.id}): {why_not_removable(m)}"
            for m in methods
        )
        super().__init__(
            f"the user holds method(s) this app cannot remove: {named}. Remove them in the "
            "Entra admin center first, or name in remove_methods only the types to remove "
            "(they stay, and so does the default method if it is one of them)"
        )


def why_not_removable(method: RegisteredMethod) -> str:
    """The reason an admin reads, and what would change it."""
    if method.type in BETA_ONLY_METHOD_TYPES:
        return "no v1.0 delete; set GRAPH_BETA_METHODS=true to remove it through Graph beta"
    return "a type this app does not know, so it has no delete for it"


def done_detail(method: RegisteredMethod, first_round: bool) -> str | None:
    """What a finished deletion tells the admin beyond "done"."""
    notes = []
    if method.type is MethodType.hardware_oath:
        notes.append(
            "unassigned from the user: the token stays in the tenant's inventory and can be "
            "handed out again"
        )
    if not first_round:
        notes.append("deleted after the other methods (Graph refused it earlier)")
    return "; ".join(notes) or None


def type_name(odata_type: str) -> str:
    """``#microsoft.graph.hardwareOathAuthenticationMethod`` -> ``hardwareOath``: the name a
    person knows the type by, also for a type Graph adds after this app was written."""
    name = odata_type.rsplit(".", 1)[-1]
    for suffix in ("AuthenticationMethod", "Method"):
        if name.endswith(suffix) and name != suffix:
            return name[: -len(suffix)]
    return name or "unknown"


class TapNotAllowedError(PlanConflictError):
    """The tenant's Temporary Access Pass policy would refuse the pass: refused before any
    deletion, so the user is never left with no method and no pass. ``rule`` names it."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


def with_disabled_note(detail: str | None) -> str:
    """An outcome's detail, saying the account is disabled: a reset of it works, but the user
    cannot sign in to register again until someone enables it."""
    note = "the account is disabled: the user cannot sign in to register again until enabled"
    return f"{detail}; {note}" if detail else note


def check_tap_policy(
    wanted: TemporaryAccessPassRequest, policy: TapPolicy, group_ids: set[str]
) -> None:
    """Raise ``TapNotAllowedError`` when Graph would refuse this pass for this user."""
    if not policy.enabled:
        raise TapNotAllowedError(
            "tap-policy-disabled",
            "the tenant's Temporary Access Pass policy is disabled; enable it (Entra ID > "
            "Authentication methods) or reset without a pass",
        )
    if policy.include_group_ids is not None and not policy.include_group_ids & group_ids:
        raise TapNotAllowedError(
            "tap-user-not-targeted",
            "the Temporary Access Pass policy targets groups this user is not a member of",
        )
    if policy.exclude_group_ids & group_ids:
        raise TapNotAllowedError(
            "tap-user-excluded",
            "the Temporary Access Pass policy excludes a group this user is a member of "
            "(an exclusion wins over any inclusion)",
        )
    lifetime = wanted.lifetime_minutes
    if not policy.minimum_lifetime <= lifetime <= policy.maximum_lifetime:
        raise TapNotAllowedError(
            "tap-lifetime",
            f"the policy allows passes of {policy.minimum_lifetime}-{policy.maximum_lifetime} "
            f"minutes, not {lifetime}",
        )
    if policy.usable_once and not wanted.usable_once:
        raise TapNotAllowedError(
            "tap-one-time-only",
            'the policy allows one-time passes only: send "usable_once": true',
        )


@dataclass(frozen=True)
class Plan:
    deletions: tuple[RegisteredMethod, ...]
    kept: tuple[RegisteredMethod, ...]
    revoke_sessions: bool
    new_phone: NewPhone | None
    temporary_access_pass: TemporaryAccessPassRequest | None
    guest: bool = False

    def kept_note(self) -> str:
        """Why a deletion Graph refused for the default can never go in this reset."""
        kept = sorted({str(m.type or m.odata_type) for m in self.kept})
        return f"; it cannot go while kept methods remain ({', '.join(kept)})"

    def steps(self) -> list[Step]:
        steps = [
            Step(
                action=StepAction.delete_method,
                method_type=m.type,
                odata_type=m.odata_type,
                method_id=m.id,
                phone_type=m.phone_type,
            )
            for m in self.deletions
        ]
        if self.revoke_sessions and self.guest:
            steps.append(
                Step(
                    action=StepAction.revoke_sessions,
                    result=StepResult.skipped,
                    detail="guests sign in through their home tenant; revoking their sessions "
                    "here has no effect (Graph documents this)",
                )
            )
        elif self.revoke_sessions:
            steps.append(Step(action=StepAction.revoke_sessions))
        if self.new_phone is not None:
            steps.append(
                Step(
                    action=StepAction.add_phone,
                    method_type=MethodType.phone,
                    phone_type=self.new_phone.type,
                )
            )
        if self.temporary_access_pass is not None:
            steps.append(
                Step(
                    action=StepAction.create_temporary_access_pass,
                    method_type=MethodType.temporary_access_pass,
                )
            )
        return steps


def _deletion_key(method: RegisteredMethod) -> tuple[int, int]:
    assert method.type is not None
    phone_rank = PHONE_DELETE_ORDER.index(method.phone_type) if method.phone_type else 0
    return DELETE_ORDER.index(method.type), phone_rank


def planned_request(request: ResetRequest) -> ResetRequest:
    """What the reset itself does: a verified user's pass is issued afterwards, on their own
    page, to them (``shared.reset.verification``); the policy is still judged before any
    change, like any pass."""
    if request.verification is not None and request.temporary_access_pass is not None:
        return request.model_copy(update={"temporary_access_pass": None})
    return request


def build_plan(
    request: ResetRequest,
    methods: list[RegisteredMethod],
    guest: bool = False,
    removable: frozenset[MethodType] = V1_REMOVABLE_METHOD_TYPES,
) -> Plan:
    """``removable``: the types the gateway can delete (beta adds hardware tokens)."""
    selected = request.selected_types()
    deletions = sorted(
        (m for m in methods if m.type in selected and m.type in removable), key=_deletion_key
    )
    # A type this app does not know can only be "selected" by a request for "all"; a known
    # one it cannot delete (a hardware token without beta) by naming it or "all". Either is
    # refused up front rather than skipped in silence.
    unremovable = [
        m
        for m in methods
        if (m.type is None and request.remove_methods == "all")
        or (m.type in selected and m.type not in removable)
    ]
    if unremovable:
        raise MethodNotRemovableError(tuple(unremovable))
    kept = [m for m in methods if m not in deletions]
    if request.new_phone is not None:
        _check_new_phone(request.new_phone, kept)
    if guest and request.temporary_access_pass is not None:
        raise PlanConflictError(
            "a Temporary Access Pass cannot be issued to a guest: guests sign in with the "
            "methods of their home tenant"
        )
    return Plan(
        deletions=tuple(deletions),
        kept=tuple(kept),
        revoke_sessions=request.revoke_sessions,
        new_phone=request.new_phone,
        temporary_access_pass=request.temporary_access_pass,
        guest=guest,
    )


def _check_new_phone(new_phone: NewPhone, kept: list[RegisteredMethod]) -> None:
    """Refuse before any change what Graph would refuse after the deletions."""
    kept_phone_types = {m.phone_type for m in kept if m.type is MethodType.phone}
    if new_phone.type in kept_phone_types:
        raise PlanConflictError(
            f"the user has a {new_phone.type} phone and this request keeps phones; "
            "remove phones too or choose another phone type"
        )
    if new_phone.type is PhoneType.alternate_mobile and PhoneType.mobile not in kept_phone_types:
        raise PlanConflictError(
            "Graph allows an alternateMobile phone only beside a mobile phone, and none will "
            "remain; register the new number as mobile"
        )
