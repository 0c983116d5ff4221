"""Authentication methods as records: the kinds Graph v1.0 knows (and those it lists with no
v1.0 collection to delete them from), how each one reads back, the tenant's Temporary Access Pass
policy, and the ids and defaults a seeded method gets.

Kept apart from the user record so the per-kind facts Graph documents (``@odata.type``,
collection name, fixed ids of phone and email methods) sit in one table.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ._common import (
    EMAIL_METHOD_ID,
    PASSWORD_METHOD_ID,
    PHONE_METHOD_IDS,
    camel,
    iso,
    new_guid,
    parse_iso,
    stable_guid,
    utcnow,
)


@dataclass(frozen=True)
class MethodKind:
    """Static facts about one authentication method type."""

    kind: str
    odata_type: str
    collection: str
    defaults: dict[str, Any]
    # The versions that serve ``collection`` (list, get, delete): none for a type with no
    # collection (QR code + PIN is a singleton, ``qrCodePinMethod``; a future type has none).
    collection_versions: tuple[str, ...] = ("v1.0", "beta")
    # The versions whose /authentication/methods lists it: Graph lists "only the methods
    # supported on this API version", and hardware OATH tokens are beta only.
    listed_in: tuple[str, ...] = ("v1.0", "beta")


METHOD_KINDS: dict[str, MethodKind] = {
    k.kind: k
    for k in (
        MethodKind(
            "phone",
            "phoneAuthenticationMethod",
            "phoneMethods",
            {"phoneNumber": None, "phoneType": "mobile", "smsSignInState": None},
        ),
        MethodKind("email", "emailAuthenticationMethod", "emailMethods", {"emailAddress": None}),
        MethodKind(
            "microsoftAuthenticator",
            "microsoftAuthenticatorAuthenticationMethod",
            "microsoftAuthenticatorMethods",
            {
                "displayName": "Phone",
                "deviceTag": "SoftwareTokenActivated",
                "phoneAppVersion": "6.2409.6204",
            },
        ),
        MethodKind(
            "softwareOath",
            "softwareOathAuthenticationMethod",
            "softwareOathMethods",
            {"secretKey": None},
        ),
        MethodKind(
            "fido2",
            "fido2AuthenticationMethod",
            "fido2Methods",
            {
                "displayName": "Security key",
                "aaGuid": "cb69481e-8ff7-4039-93ec-0a2729a154a8",
                "model": "YubiKey 5 Series",
                "attestationCertificates": [],
                "attestationLevel": "attested",
                "passkeyType": "deviceBound",
            },
        ),
        MethodKind(
            "windowsHelloForBusiness",
            "windowsHelloForBusinessAuthenticationMethod",
            "windowsHelloForBusinessMethods",
            {"displayName": "Windows device", "keyStrength": "normal"},
        ),
        MethodKind(
            "temporaryAccessPass",
            "temporaryAccessPassAuthenticationMethod",
            "temporaryAccessPassMethods",
            {"startDateTime": None, "lifetimeInMinutes": None, "isUsableOnce": None},
        ),
        MethodKind(
            "platformCredential",
            "platformCredentialAuthenticationMethod",
            "platformCredentialMethods",
            {"displayName": "Mac", "keyStrength": "normal", "platform": "macOS"},
        ),
        MethodKind(
            "externalAuthentication",
            "externalAuthenticationMethod",
            "externalAuthenticationMethods",
            {"configurationId": None, "displayName": "External MFA"},
        ),
        # A hardware OATH token (key fob) assigned to the user: Graph beta documents the type
        # and its collection (list, get, and a delete that unassigns the token, which stays in
        # the tenant's inventory); v1.0 has neither, so its listing leaves tokens out.
        MethodKind(
            "hardwareOath",
            "hardwareOathAuthenticationMethod",
            "hardwareOathMethods",
            {"device": None},
            collection_versions=("beta",),
            listed_in=("beta",),
        ),
        # QR code + PIN sign-in for frontline workers: a v1.0 type, one per user, read and
        # deleted at /authentication/qrCodePinMethod in v1.0 and beta (no collection).
        MethodKind(
            "qrCodePin",
            "qrCodePinAuthenticationMethod",
            "qrCodePinMethod",
            {"standardQRCode": None, "temporaryQRCode": None, "pin": None},
            collection_versions=(),
        ),
        # Stands for any type Graph adds after the app was written: a name nobody knows.
        MethodKind(
            "futureType",
            "futureSignInAuthenticationMethod",
            "futureSignInMethods",
            {"displayName": "Something new"},
            collection_versions=(),
        ),
    )
}
COLLECTION_KINDS: dict[str, MethodKind] = {
    k.collection: k for k in METHOD_KINDS.values() if k.collection_versions
}
PHONE_TYPES = ("mobile", "alternateMobile", "office")
TAP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789+=@#!"


@dataclass
class Method:
    """One registered authentication method; ``props`` holds its Graph properties."""

    id: str
    kind: str
    created: str
    props: dict[str, Any]
    secret: str | None = field(default=None, repr=False)

    def to_json(self, now: datetime | None = None) -> dict[str, Any]:
        info = METHOD_KINDS[self.kind]
        out: dict[str, Any] = {
            "@odata.type": f"#microsoft.graph.{info.odata_type}",
            "id": self.id,
            "createdDateTime": self.created,
        }
        out.update(self.props)
        if self.kind == "temporaryAccessPass":
            # The pass itself is only ever shown in the create response.
            out["temporaryAccessPass"] = None
            out.update(tap_usability(self.props, now or utcnow()))
        return out


def tap_usability(props: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Derive ``isUsable``/``methodUsabilityReason`` the way Graph reports them on reads."""
    start = parse_iso(str(props["startDateTime"]))
    end = start + timedelta(minutes=int(props["lifetimeInMinutes"]))
    if now < start:
        return {"isUsable": False, "methodUsabilityReason": "NotYetValid"}
    if now >= end:
        return {"isUsable": False, "methodUsabilityReason": "Expired"}
    return {"isUsable": True, "methodUsabilityReason": "EnabledByPolicy"}


@dataclass
class TapPolicy:
    """The tenant's Temporary Access Pass policy, the knobs TAP creation is judged by."""

    enabled: bool = True
    default_lifetime: int = 60
    min_lifetime: int = 10
    max_lifetime: int = 43200
    usable_once_default: bool = False
    length: int = 8
    # Who may be issued a pass: "all_users", or group object ids (includeTargets).
    include_targets: tuple[str, ...] = ("all_users",)
    # Groups whose members may not be issued a pass, whatever includes them (excludeTargets).
    exclude_targets: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The policy as ``authenticationMethodConfigurations/TemporaryAccessPass`` shows it."""
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#policies/"
            "authenticationMethodsPolicy/authenticationMethodConfigurations/$entity",
            "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
            "id": "TemporaryAccessPass",
            "state": "enabled" if self.enabled else "disabled",
            "defaultLifetimeInMinutes": self.default_lifetime,
            "defaultLength": self.length,
            "minimumLifetimeInMinutes": self.min_lifetime,
            "maximumLifetimeInMinutes": self.max_lifetime,
            "isUsableOnce": self.usable_once_default,
            "excludeTargets": [
                {"targetType": "group", "id": target} for target in self.exclude_targets
            ],
            "includeTargets": [
                {"targetType": "group", "id": target, "isRegistrationRequired": False}
                for target in self.include_targets
            ],
        }


def hardware_device(token_id: str, name: str, *, assigned_to: str | None) -> dict[str, Any]:
    """A hardware OATH token as beta shows it inside the method (``device``); the secret key
    is never returned."""
    return {
        "id": token_id,
        "displayName": name,
        "serialNumber": "TOTP" + token_id.replace("-", "")[:6].upper(),
        "manufacturer": "Contoso",
        "model": "Hardware Token 1000",
        "secretKey": None,
        "timeIntervalInSeconds": 30,
        "status": "activated",
        "hashFunction": "hmacsha1",
        "assignedTo": None if assigned_to is None else {"displayName": assigned_to},
    }


def new_tap_value(length: int) -> str:
    return "".join(secrets.choice(TAP_ALPHABET) for _ in range(max(8, length)))


def password_method_json(created: str) -> dict[str, Any]:
    """The password method every user has; Graph lists it but never shows the password."""
    return {
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": PASSWORD_METHOD_ID,
        "createdDateTime": created,
        "password": None,
    }


def seed_values(kind: str, props: dict[str, Any]) -> tuple[MethodKind, dict[str, Any]]:
    """The kind and its Graph properties for a seeded method (keywords are camelCased)."""
    info = METHOD_KINDS.get(kind)
    if info is None:
        raise ValueError(f"unknown method kind {kind!r}; expected one of {sorted(METHOD_KINDS)}")
    values = dict(info.defaults)
    for key, value in props.items():
        name = camel(key)
        if name not in info.defaults:
            raise ValueError(f"{kind} methods have no property {key!r}")
        values[name] = value
    return info, values


def seeded_method(
    info: MethodKind,
    values: dict[str, Any],
    given: str | None,
    *,
    created: str | datetime | None,
    user_principal_name: str,
    policy: TapPolicy,
) -> Method:
    """A method as seeding registers it: the defaults it still lacks filled in, Graph's fixed
    id for phone and email methods (a new GUID for the others unless one is given), and the
    pass itself for a Temporary Access Pass."""
    if info.kind == "phone":
        ptype = values["phoneType"]
        if ptype not in PHONE_TYPES:
            raise ValueError(f"phoneType must be one of {PHONE_TYPES}, not {ptype!r}")
        if values["phoneNumber"] is None:
            values["phoneNumber"] = "+1 2065550199"
        if values["smsSignInState"] is None:
            values["smsSignInState"] = "ready" if ptype == "mobile" else "notSupported"
        mid = PHONE_METHOD_IDS[ptype]
    elif info.kind == "email":
        if values["emailAddress"] is None:
            local = user_principal_name.split("@", 1)[0]
            values["emailAddress"] = f"{local}@mail.example"
        mid = EMAIL_METHOD_ID
    elif info.kind == "temporaryAccessPass":
        if values["startDateTime"] is None:
            values["startDateTime"] = iso(utcnow())
        if values["lifetimeInMinutes"] is None:
            values["lifetimeInMinutes"] = policy.default_lifetime
        if values["isUsableOnce"] is None:
            values["isUsableOnce"] = policy.usable_once_default
        mid = (given or new_guid()).lower()
    elif info.kind == "hardwareOath":
        mid = (given or new_guid()).lower()
        if values["device"] is None:
            values["device"] = hardware_device(mid, "Key fob", assigned_to=user_principal_name)
    else:
        if info.kind == "externalAuthentication" and values["configurationId"] is None:
            values["configurationId"] = stable_guid("external", values["displayName"])
        mid = (given or new_guid()).lower()
    if given is not None and given.lower() != mid:
        raise ValueError(f"{info.kind} methods have a fixed id ({mid}); do not pass id=")
    secret = new_tap_value(policy.length) if info.kind == "temporaryAccessPass" else None
    if isinstance(created, datetime):
        created = iso(created)
    return Method(mid, info.kind, created or iso(utcnow()), values, secret)
