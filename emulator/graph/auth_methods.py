"""``/users/{id}/authentication/...``: listing, reading and deleting a user's methods, and
creating or changing the phone methods and Temporary Access Passes the reset writes.

The authentication methods service answers in its own dialect (``badRequest``, the message
repeated in ``innerError``) and refuses deletions a real tenant refuses, such as the
default method while others remain; the reset's error handling is tested against that.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from .._common import PHONE_METHOD_IDS, GraphError, iso, parse_iso, utcnow
from ..methods import (
    COLLECTION_KINDS,
    METHOD_KINDS,
    PHONE_TYPES,
    Method,
    new_tap_value,
    password_method_json,
)
from ..model import User
from .call import GraphCall, GraphResult, Service, allow, segment_not_found
from .odata import select

PHONE_NUMBER_RE = re.compile(r"^\+\d{1,3} \d{1,14}(x\d{1,10})?$")
_AM = "badRequest"  # the code this service uses for 405s as well


def _am_fail(status: int, code: str, message: str) -> NoReturn:
    """Authentication-methods service errors repeat the message inside innerError."""
    raise GraphError(status, code, message, inner={"message": message})


def handler(
    svc: Service, call: GraphCall, raw_key: str, rest: list[str]
) -> Callable[[User], GraphResult]:
    """Validate the path after ``authentication/`` and the method before the user is looked
    up, like Graph does. ``call.version`` decides what exists: hardware OATH tokens are beta
    only, and the methods listing shows only the types of its version."""
    version = call.version
    match rest:
        case ["methods"]:
            allow(call, "GET", code=_AM)
            return lambda u: _list_methods(svc, call, u, raw_key, None)
        case ["methods", mid]:
            if call.method == "DELETE":
                return lambda u: _generic_delete(svc, u, mid)
            allow(call, "GET", code=_AM)
            return lambda u: _get_method(svc, call, u, raw_key, None, mid)
        case ["passwordMethods"]:
            allow(call, "GET", code=_AM)
            return lambda u: _list_methods(svc, call, u, raw_key, "passwordMethods")
        case ["passwordMethods", mid]:
            allow(call, "GET", code=_AM)
            return lambda u: _get_method(svc, call, u, raw_key, "passwordMethods", mid)
        case ["qrCodePinMethod"]:
            if call.method == "DELETE":
                return lambda u: _delete_qr_code_pin(svc, u)
            allow(call, "GET", code=_AM)
            return lambda u: _get_qr_code_pin(svc, call, u, raw_key)
        case [collection] if version in _versions_of(collection):
            if call.method == "POST" and collection == "phoneMethods":
                return lambda u: _create_phone(svc, call, u, raw_key)
            if call.method == "POST" and collection == "temporaryAccessPassMethods":
                return lambda u: _create_tap(svc, call, u, raw_key)
            allow(call, "GET", code=_AM)
            return lambda u: _list_methods(svc, call, u, raw_key, collection)
        case [collection, mid] if version in _versions_of(collection):
            if call.method == "DELETE":
                return lambda u: _delete_method(svc, u, collection, mid)
            if call.method == "PATCH" and collection == "phoneMethods":
                return lambda u: _update_phone(call, u, mid)
            allow(call, "GET", code=_AM)
            return lambda u: _get_method(svc, call, u, raw_key, collection, mid)
        case _:
            segment_not_found(rest[0])


def _versions_of(collection: str) -> tuple[str, ...]:
    kind = COLLECTION_KINDS.get(collection)
    return kind.collection_versions if kind is not None else ()


def _method_items(user: User, collection: str | None, version: str) -> list[dict[str, Any]]:
    now = utcnow()
    password = [password_method_json(user.created)]
    if collection == "passwordMethods":
        return password
    if collection is None:
        listed = [m for m in user.methods.values() if version in METHOD_KINDS[m.kind].listed_in]
        return password + [m.to_json(now) for m in listed]
    kind = COLLECTION_KINDS[collection].kind
    return [m.to_json(now) for m in user.methods.values() if m.kind == kind]


def _context(svc: Service, call: GraphCall, raw_key: str, collection: str | None) -> str:
    root = f"{svc.origin}/{call.version}"
    return f"{root}/$metadata#users('{raw_key}')/authentication/{collection or 'methods'}"


def _list_methods(
    svc: Service, call: GraphCall, user: User, raw_key: str, collection: str | None
) -> GraphResult:
    items = _method_items(user, collection, call.version)
    names = select(call)
    if names:
        wanted = {n.lower() for n in names}
        items = [
            {k: v for k, v in item.items() if k in ("@odata.type", "id") or k.lower() in wanted}
            for item in items
        ]
    context = _context(svc, call, raw_key, collection)
    return GraphResult(200, {"@odata.context": context, "value": items})


def _get_method(
    svc: Service, call: GraphCall, user: User, raw_key: str, collection: str | None, mid: str
) -> GraphResult:
    for item in _method_items(user, collection, call.version):
        if item["id"].lower() == mid.lower():
            context = _context(svc, call, raw_key, collection) + "/$entity"
            return GraphResult(200, {"@odata.context": context, **item})
    _method_not_found(mid)


def _qr_code_pin(user: User) -> Method | None:
    return next((m for m in user.methods.values() if m.kind == "qrCodePin"), None)


def _get_qr_code_pin(svc: Service, call: GraphCall, user: User, raw_key: str) -> GraphResult:
    method = _qr_code_pin(user)
    if method is None:
        _method_not_found("qrCodePinMethod")
    context = _context(svc, call, raw_key, "qrCodePinMethod") + "/$entity"
    return GraphResult(200, {"@odata.context": context, **method.to_json()})


def _delete_qr_code_pin(svc: Service, user: User) -> GraphResult:
    """The singleton goes whole: both QR codes and the PIN."""
    method = _qr_code_pin(user)
    if method is None:
        _method_not_found("qrCodePinMethod")
    return _remove(svc, user, method)


def _method_not_found(mid: str) -> NoReturn:
    _am_fail(404, "itemNotFound", f"The requested authentication method '{mid}' was not found.")


def _generic_delete(svc: Service, user: User, mid: str) -> GraphResult:
    _am_fail(
        405,
        "badRequest",
        "No HTTP resource was found that matches the request URI "
        f"'{svc.origin}/odata/users('{user.id}')/authentication/methods('{mid}')'.",
    )


def _delete_method(svc: Service, user: User, collection: str, mid: str) -> GraphResult:
    kind = COLLECTION_KINDS[collection].kind
    method = user.methods.get(mid.lower())
    if method is None or method.kind != kind:
        _method_not_found(mid)
    return _remove(svc, user, method)


def _remove(svc: Service, user: User, method: Method) -> GraphResult:
    """Graph's rules for any deletion, then the deletion (a hardware token's unassignment)."""
    kind = method.kind
    blocking = svc.tenant.default_blocking_kinds
    others = [
        m
        for m in user.methods.values()
        if m.id != method.id and (blocking is None or m.kind in blocking)
    ]
    if user.default_method_id == method.id and others:
        _am_fail(
            400,
            "badRequest",
            "Cannot delete default method with other methods configured. Please change "
            "default method before deletion.",
        )
    if (
        kind == "phone"
        and method.props.get("phoneType") == "mobile"
        and PHONE_METHOD_IDS["alternateMobile"] in user.methods
    ):
        _am_fail(
            400,
            "badRequest",
            "A user can't have an alternateMobile number without a mobile number. Delete "
            "the alternateMobile number first.",
        )
    del user.methods[method.id]
    if user.default_method_id == method.id:
        user.default_method_id = None
    if kind == "hardwareOath":
        device = dict(method.props.get("device") or {"id": method.id})
        svc.tenant.token_inventory[method.id] = {**device, "assignedTo": None}
    return GraphResult(204)


def _json_object(call: GraphCall, *, optional: bool = False) -> dict[str, Any]:
    if call.body_invalid:
        _am_fail(400, "badRequest", "Unable to read JSON request payload.")
    if call.body is None and optional:
        return {}
    if not isinstance(call.body, dict):
        _am_fail(400, "badRequest", "The request body must be a JSON object.")
    return {k: v for k, v in call.body.items() if k != "@odata.type"}


def _create_phone(svc: Service, call: GraphCall, user: User, raw_key: str) -> GraphResult:
    body = _json_object(call)
    number, ptype = body.get("phoneNumber"), body.get("phoneType")
    if not isinstance(number, str) or not isinstance(ptype, str):
        _am_fail(400, "badRequest", "Both phoneNumber and phoneType are required.")
    if ptype not in PHONE_TYPES:
        _am_fail(400, "badRequest", f"Invalid value '{ptype}' for phoneType.")
    if not PHONE_NUMBER_RE.match(number):
        _am_fail(
            400,
            "badRequest",
            f"Invalid phone number '{number}'. Use the format '+{{country code}} "
            "{number}x{extension}'.",
        )
    mid = PHONE_METHOD_IDS[ptype]
    if mid in user.methods:
        _am_fail(400, "badRequest", f"The user already has a phone method of type {ptype}.")
    if ptype == "alternateMobile" and PHONE_METHOD_IDS["mobile"] not in user.methods:
        _am_fail(
            400,
            "badRequest",
            "A user can't have an alternateMobile number without a mobile number.",
        )
    props = {
        "phoneNumber": number,
        "phoneType": ptype,
        "smsSignInState": "ready" if ptype == "mobile" else "notSupported",
    }
    method = Method(mid, "phone", iso(utcnow()), props)
    user.methods[mid] = method
    context = _context(svc, call, raw_key, "phoneMethods") + "/$entity"
    return GraphResult(201, {"@odata.context": context, **method.to_json()})


def _update_phone(call: GraphCall, user: User, mid: str) -> GraphResult:
    method = user.methods.get(mid.lower())
    if method is None or method.kind != "phone":
        _method_not_found(mid)
    body = _json_object(call)
    number, ptype = body.get("phoneNumber"), body.get("phoneType")
    if ptype is not None and ptype != method.props["phoneType"]:
        _am_fail(400, "badRequest", "The phoneType of an existing phone method can't change.")
    if number is not None:
        if not isinstance(number, str) or not PHONE_NUMBER_RE.match(number):
            _am_fail(400, "badRequest", f"Invalid phone number '{number}'.")
        method.props["phoneNumber"] = number
    return GraphResult(204)


def _create_tap(svc: Service, call: GraphCall, user: User, raw_key: str) -> GraphResult:
    body = _json_object(call, optional=True)
    policy = svc.tenant.tap_policy
    if user.user_type == "Guest":
        _am_fail(
            400, "badRequest", "Temporary Access Pass cannot be added to an external guest user"
        )
    groups = {g.id for g in svc.tenant.transitive_groups(user.id)}
    # An exclusion wins over any inclusion, as Entra applies excludeTargets.
    in_scope = "all_users" in policy.include_targets or bool(groups & set(policy.include_targets))
    in_scope = in_scope and not groups & set(policy.exclude_targets)
    if not policy.enabled or not in_scope:
        _am_fail(
            400,
            "badRequest",
            "Converged UserCredentialPolicy does not allow creating or updating this "
            "authentication method. AuthMethodType [TemporaryAccessPass].",
        )
    lifetime = body.get("lifetimeInMinutes", policy.default_lifetime)
    if lifetime is None:
        lifetime = policy.default_lifetime
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        _am_fail(400, "badRequest", "lifetimeInMinutes must be an integer.")
    if not policy.min_lifetime <= lifetime <= policy.max_lifetime:
        _am_fail(
            400,
            "badRequest",
            f"lifetimeInMinutes must be between {policy.min_lifetime} and "
            f"{policy.max_lifetime} minutes.",
        )
    once = body.get("isUsableOnce", policy.usable_once_default)
    if once is None:
        once = policy.usable_once_default
    if not isinstance(once, bool):
        _am_fail(400, "badRequest", "isUsableOnce must be a boolean.")
    if policy.usable_once_default and not once:
        _am_fail(
            400,
            "badRequest",
            "The Temporary Access Pass policy only allows one-time use passes.",
        )
    start = _tap_start(body.get("startDateTime"))
    user.drop_temporary_access_pass()
    secret = new_tap_value(policy.length)
    props = {"startDateTime": iso(start), "lifetimeInMinutes": lifetime, "isUsableOnce": once}
    method = Method(str(uuid.uuid4()), "temporaryAccessPass", iso(utcnow()), props, secret)
    user.methods[method.id] = method
    user.last_tap = secret
    entity = method.to_json()
    entity["temporaryAccessPass"] = secret
    context = _context(svc, call, raw_key, "temporaryAccessPassMethods") + "/$entity"
    return GraphResult(201, {"@odata.context": context, **entity})


def _tap_start(value: Any) -> datetime:
    if value is None:
        return utcnow()
    if not isinstance(value, str):
        _am_fail(400, "badRequest", "startDateTime must be an ISO 8601 date and time.")
    try:
        return parse_iso(value)
    except ValueError:
        _am_fail(400, "badRequest", f"Invalid startDateTime '{value}'.")
