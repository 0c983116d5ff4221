"""In-memory directory that the emulator serves: users, their authentication methods,
groups, directory roles and PIM eligibilities.

The seeding API is plain Python so tests can build exactly the tenant a scenario needs,
and read the state back (methods, default, revocations, last TAP) after the code under
test has talked to the emulator over HTTP. Every public method takes the tenant's single
lock, which the HTTP handlers share, so tests may poke the tenant while requests run.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ._common import (
    EMAIL_METHOD_ID,
    GUID_RE,
    PASSWORD_METHOD_ID,
    PHONE_METHOD_IDS,
    iso,
    parse_iso,
    utcnow,
)
from ._common import camel as _camel

# Namespace for ids derived from names, so a re-seeded tenant gets the same ids.
_ID_NAMESPACE = uuid.UUID("4f3c1a52-8d6e-4b1f-9a57-0c2d9e7b6a11")

BUILTIN_ROLE_TEMPLATES: dict[str, str] = {
    "Global Administrator": "62e90394-69f5-4237-9190-012177145e10",
    "Privileged Authentication Administrator": "7be44c8a-adaf-4e2a-84d6-ab2649e08a13",
    "Privileged Role Administrator": "e8611ab8-c189-46e8-94e1-60213ab1f814",
    "Authentication Administrator": "c4e39bd9-1100-46d3-8c65-fb160da0071f",
    "Authentication Policy Administrator": "0526716b-113d-4c15-b2c8-68e3c22b9f80",
    "User Administrator": "fe930be7-5e62-47db-91af-98c3a49a38b1",
    "Helpdesk Administrator": "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    "Password Administrator": "966707d0-3269-4727-9be2-8c3a10f19b9d",
    "Groups Administrator": "fdd7a751-b60b-444a-984c-02652fe8fa1c",
    "Security Administrator": "194ae4cb-b126-40b2-bd5b-6091b380977d",
    "Security Reader": "5d6b6bb7-de71-4623-b4af-96380a352509",
    "Global Reader": "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
    "Conditional Access Administrator": "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
    "Application Administrator": "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
    "Cloud Application Administrator": "158c047a-c907-4556-b7ef-446551a6b5f7",
    "Exchange Administrator": "29232cdf-9323-42fd-ade2-1d097af3e4de",
    "SharePoint Administrator": "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
    "Directory Readers": "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
}


@dataclass(frozen=True)
class MethodKind:
    """Static facts about one authentication method type."""

    kind: str
    odata_type: str
    collection: str
    defaults: dict[str, Any]


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
    )
}
COLLECTION_KINDS: dict[str, MethodKind] = {k.collection: k for k in METHOD_KINDS.values()}
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
class User:
    id: str
    user_principal_name: str
    display_name: str
    user_type: str = "Member"
    account_enabled: bool = True
    mail: str | None = None
    sign_in_sessions_valid_from: str = "2024-01-01T00:00:00Z"
    created: str = "2024-01-01T00:00:00Z"
    properties: dict[str, Any] = field(default_factory=dict)
    methods: dict[str, Method] = field(default_factory=dict, repr=False)
    default_method_id: str | None = None
    revocations: int = 0
    last_tap: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        """Every user property the emulator knows, keyed by its Graph name."""
        local = self.user_principal_name.split("@", 1)[0]
        guest = self.user_type == "Guest"
        out: dict[str, Any] = {
            "id": self.id,
            "userPrincipalName": self.user_principal_name,
            "displayName": self.display_name,
            "userType": self.user_type,
            "accountEnabled": self.account_enabled,
            "mail": self.mail,
            "signInSessionsValidFromDateTime": self.sign_in_sessions_valid_from,
            "createdDateTime": self.created,
            "mailNickname": local.split("#", 1)[0],
            "creationType": "Invitation" if guest else None,
            "externalUserState": "Accepted" if guest else None,
            "onPremisesSyncEnabled": None,
        }
        for name in USER_PROPERTIES:
            out.setdefault(name, [] if name in _LIST_USER_PROPERTIES else None)
        out.update(self.properties)
        return out


# Default set returned by GET /users/{id} without $select.
USER_DEFAULT_PROPERTIES = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
_LIST_USER_PROPERTIES = frozenset(
    {
        "businessPhones",
        "otherMails",
        "proxyAddresses",
        "imAddresses",
        "identities",
        "assignedLicenses",
    }
)
# Real v1.0 user properties that $select may name; unknown names are a 400 like in Graph.
USER_PROPERTIES: tuple[str, ...] = (
    *USER_DEFAULT_PROPERTIES,
    "accountEnabled",
    "ageGroup",
    "assignedLicenses",
    "city",
    "companyName",
    "country",
    "createdDateTime",
    "creationType",
    "deletedDateTime",
    "department",
    "employeeHireDate",
    "employeeId",
    "employeeType",
    "externalUserState",
    "externalUserStateChangeDateTime",
    "faxNumber",
    "identities",
    "imAddresses",
    "isManagementRestricted",
    "lastPasswordChangeDateTime",
    "mailNickname",
    "onPremisesDistinguishedName",
    "onPremisesDomainName",
    "onPremisesImmutableId",
    "onPremisesLastSyncDateTime",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "onPremisesUserPrincipalName",
    "otherMails",
    "passwordPolicies",
    "postalCode",
    "proxyAddresses",
    "securityIdentifier",
    "showInAddressList",
    "signInSessionsValidFromDateTime",
    "state",
    "streetAddress",
    "usageLocation",
    "userType",
)


@dataclass
class Group:
    id: str
    display_name: str
    role_assignable: bool = False
    description: str | None = None
    members: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "displayName": self.display_name,
            "description": self.description,
            "groupTypes": [],
            "isAssignableToRole": self.role_assignable,
            "mail": None,
            "mailEnabled": False,
            "mailNickname": "".join(c for c in self.display_name.lower() if c.isalnum()) or "g",
            "securityEnabled": True,
            "visibility": None,
            "createdDateTime": "2024-01-01T00:00:00Z",
        }


@dataclass
class DirectoryRole:
    """An activated directory role and its direct members (users or groups)."""

    id: str
    display_name: str
    role_template_id: str
    members: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.directoryRole",
            "id": self.id,
            "deletedDateTime": None,
            "description": f"{self.display_name} (emulated role).",
            "displayName": self.display_name,
            "roleTemplateId": self.role_template_id,
        }


@dataclass
class RoleAssignment:
    """An active role assignment as ``roleManagement/directory/roleAssignments`` lists it: at
    tenant scope (``/``) or an administrative unit's, for a built-in or a custom role."""

    id: str
    principal_id: str
    display_name: str
    role_definition_id: str
    directory_scope_id: str = "/"
    built_in: bool = True


@dataclass
class EligibleRole:
    """A PIM eligibility: the principal may activate the role but does not hold it now."""

    id: str
    principal_id: str
    display_name: str
    role_definition_id: str
    start: str = "2024-01-01T00:00:00Z"
    directory_scope_id: str = "/"
    built_in: bool = True


@dataclass
class GroupEligibility:
    """PIM for Groups: the principal may activate membership or ownership of the group."""

    id: str
    principal_id: str
    group_id: str
    access_id: str  # "member" or "owner"
    start: str = "2024-01-01T00:00:00Z"


@dataclass
class AdministrativeUnit:
    id: str
    display_name: str
    restricted: bool = False
    members: list[str] = field(default_factory=list)


@dataclass
class TapPolicy:
    """The tenant's Temporary Access Pass policy, the knobs TAP creation is judged by."""

    enabled: bool = True
    default_lifetime: int = 60
    min_lifetime: int = 10
    max_lifetime: int = 43200
    usable_once_default: bool = False
    length: int = 8


def _new_guid() -> str:
    return str(uuid.uuid4())


def stable_guid(*parts: str) -> str:
    """A GUID derived from names, for objects whose id should survive a re-seed."""
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(parts)))


def new_tap_value(length: int) -> str:
    return "".join(secrets.choice(TAP_ALPHABET) for _ in range(max(8, length)))


class Tenant:
    """The emulated directory. All reads and writes go through ``self.lock``."""

    def __init__(self, domain: str = "contoso.example") -> None:
        self.domain = domain
        self.lock = threading.RLock()
        self.tap_policy = TapPolicy()
        self.revoke_returns_204 = False
        # Which other methods stop the default from being deleted. None = any non-password
        # method (the documented reading). Real Graph may only count the legacy MFA methods
        # (phone, Authenticator, OATH); set e.g. {"phone", "microsoftAuthenticator",
        # "softwareOath"} to test a client against that reading too.
        self.default_blocking_kinds: frozenset[str] | None = None
        self._users: dict[str, User] = {}
        self._groups: dict[str, Group] = {}
        self._roles: dict[str, DirectoryRole] = {}  # by role template id
        self._eligible: list[EligibleRole] = []
        self._assignments: list[RoleAssignment] = []
        self._group_eligible: list[GroupEligibility] = []
        self._units: dict[str, AdministrativeUnit] = {}

    # -- users -----------------------------------------------------------------------------

    def add_user(
        self,
        user_principal_name: str,
        *,
        display_name: str | None = None,
        user_type: str = "Member",
        account_enabled: bool = True,
        id: str | None = None,  # mirrors the Graph property name
        mail: str | None = None,
        **properties: Any,
    ) -> User:
        """Add a user; extra keyword arguments become Graph properties (camelCased)."""
        if user_type not in ("Member", "Guest"):
            raise ValueError(f"user_type must be 'Member' or 'Guest', not {user_type!r}")
        uid = (id or _new_guid()).lower()
        if not GUID_RE.match(uid):
            raise ValueError(f"user id must be a GUID: {uid!r}")
        with self.lock:
            if uid in self._users or uid in self._groups:
                raise ValueError(f"object id already in use: {uid}")
            if self._find_user(user_principal_name) is not None:
                raise ValueError(f"userPrincipalName already in use: {user_principal_name}")
            user = User(
                id=uid,
                user_principal_name=user_principal_name,
                display_name=display_name or user_principal_name.split("@", 1)[0],
                user_type=user_type,
                account_enabled=account_enabled,
                mail=mail,
                properties={_camel(k): v for k, v in properties.items()},
            )
            self._users[uid] = user
            return user

    def user(self, key: str) -> User | None:
        """Find a user by object id or userPrincipalName (case-insensitive)."""
        with self.lock:
            return self._find_user(key)

    def users(self) -> list[User]:
        with self.lock:
            return list(self._users.values())

    def _find_user(self, key: str) -> User | None:
        low = key.lower()
        if low in self._users:
            return self._users[low]
        for user in self._users.values():
            if user.user_principal_name.lower() == low:
                return user
        return None

    def _require_user(self, user_id: str) -> User:
        user = self._find_user(user_id)
        if user is None:
            raise KeyError(f"no such user: {user_id}")
        return user

    # -- authentication methods ------------------------------------------------------------

    def add_method(
        self,
        user_id: str,
        kind: str,
        *,
        default: bool = False,
        id: str | None = None,  # mirrors the Graph property name
        created: str | datetime | None = None,
        **props: Any,
    ) -> str:
        """Register a method for a user and return its id.

        Seeding is deliberately laxer than the API (no mobile-before-alternateMobile check)
        so a test can construct states the API would refuse to create.
        """
        info = METHOD_KINDS.get(kind)
        if info is None:
            raise ValueError(
                f"unknown method kind {kind!r}; expected one of {sorted(METHOD_KINDS)}"
            )
        values = dict(info.defaults)
        for key, value in props.items():
            name = _camel(key)
            if name not in info.defaults:
                raise ValueError(f"{kind} methods have no property {key!r}")
            values[name] = value
        if isinstance(created, datetime):
            created = iso(created)
        with self.lock:
            user = self._require_user(user_id)
            mid = self._seed_method_id(user, info, values, id)
            if kind == "temporaryAccessPass":
                self._drop_existing_tap(user)
                secret = new_tap_value(self.tap_policy.length)
                user.last_tap = secret
            else:
                secret = None
            user.methods[mid] = Method(mid, kind, created or iso(utcnow()), values, secret)
            if default:
                user.default_method_id = mid
            return mid

    def _seed_method_id(
        self, user: User, info: MethodKind, values: dict[str, Any], given: str | None
    ) -> str:
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
                local = user.user_principal_name.split("@", 1)[0]
                values["emailAddress"] = f"{local}@mail.example"
            mid = EMAIL_METHOD_ID
        elif info.kind == "temporaryAccessPass":
            if values["startDateTime"] is None:
                values["startDateTime"] = iso(utcnow())
            if values["lifetimeInMinutes"] is None:
                values["lifetimeInMinutes"] = self.tap_policy.default_lifetime
            if values["isUsableOnce"] is None:
                values["isUsableOnce"] = self.tap_policy.usable_once_default
            mid = (given or _new_guid()).lower()
        else:
            if info.kind == "externalAuthentication" and values["configurationId"] is None:
                values["configurationId"] = stable_guid("external", values["displayName"])
            mid = (given or _new_guid()).lower()
        if given is not None and given.lower() != mid:
            raise ValueError(f"{info.kind} methods have a fixed id ({mid}); do not pass id=")
        if mid in user.methods:
            raise ValueError(f"user {user.user_principal_name} already has method {mid}")
        return mid

    @staticmethod
    def _drop_existing_tap(user: User) -> None:
        for mid, method in list(user.methods.items()):
            if method.kind == "temporaryAccessPass":
                del user.methods[mid]
                if user.default_method_id == mid:
                    user.default_method_id = None

    def set_default(self, user_id: str, method_id: str | None) -> None:
        """Mark a method as the user's default MFA method (``None`` clears it)."""
        with self.lock:
            user = self._require_user(user_id)
            if method_id is None:
                user.default_method_id = None
                return
            mid = method_id.lower()
            if mid == PASSWORD_METHOD_ID:
                raise ValueError("the password method cannot be the default MFA method")
            if mid not in user.methods:
                raise ValueError(f"user has no method {method_id}")
            user.default_method_id = mid

    def default_method(self, user_id: str) -> str | None:
        with self.lock:
            return self._require_user(user_id).default_method_id

    def methods(self, user_id: str) -> list[dict[str, Any]]:
        """Graph JSON of the user's methods, password first, as the list endpoint shows them."""
        with self.lock:
            user = self._require_user(user_id)
            now = utcnow()
            return [password_method_json(user), *(m.to_json(now) for m in user.methods.values())]

    def method_kinds(self, user_id: str) -> list[str]:
        """Kinds of the non-password methods, handy for terse assertions."""
        with self.lock:
            return [m.kind for m in self._require_user(user_id).methods.values()]

    def last_tap_value(self, user_id: str) -> str | None:
        """The most recently issued pass, kept only so tests can prove it never leaks."""
        with self.lock:
            return self._require_user(user_id).last_tap

    def revocations(self, user_id: str) -> int:
        with self.lock:
            return self._require_user(user_id).revocations

    # -- groups and roles ------------------------------------------------------------------

    def add_group(
        self,
        display_name: str,
        *,
        id: str | None = None,  # mirrors the Graph property name
        role_assignable: bool = False,
        description: str | None = None,
    ) -> Group:
        gid = (id or _new_guid()).lower()
        if not GUID_RE.match(gid):
            raise ValueError(f"group id must be a GUID: {gid!r}")
        with self.lock:
            if gid in self._groups or gid in self._users:
                raise ValueError(f"object id already in use: {gid}")
            group = Group(gid, display_name, role_assignable, description)
            self._groups[gid] = group
            return group

    def group(self, group_id: str) -> Group | None:
        with self.lock:
            return self._groups.get(group_id.lower())

    def add_member(self, group_id: str, member_id: str) -> None:
        """Add a user or a group (nesting) as a direct member; adding twice is a no-op."""
        with self.lock:
            group = self._groups.get(group_id.lower())
            if group is None:
                raise KeyError(f"no such group: {group_id}")
            mid = member_id.lower()
            if mid not in self._users and mid not in self._groups:
                raise KeyError(f"no such user or group: {member_id}")
            if mid == group.id:
                raise ValueError("a group cannot be a member of itself")
            if mid not in group.members:
                group.members.append(mid)

    def members(self, group_id: str) -> list[str]:
        with self.lock:
            group = self._groups.get(group_id.lower())
            if group is None:
                raise KeyError(f"no such group: {group_id}")
            return list(group.members)

    def _require_principal(self, principal_id: str) -> str:
        pid = principal_id.lower()
        if pid not in self._users and pid not in self._groups:
            raise KeyError(f"no such user or group: {principal_id}")
        return pid

    def add_directory_role(
        self,
        principal_id: str,
        display_name: str,
        *,
        role_template_id: str | None = None,
        directory_scope_id: str = "/",
    ) -> DirectoryRole:
        """Give a user or group an active built-in role assignment.

        At tenant scope the role is also activated as a ``directoryRole`` with the principal as
        a member (what ``memberOf`` lists); at an administrative unit's scope
        (``/administrativeUnits/{id}``) it appears only among the role assignments, as in Graph.
        """
        template = (role_template_id or BUILTIN_ROLE_TEMPLATES.get(display_name) or "").lower()
        if not template:
            raise ValueError(f"unknown role {display_name!r}: pass role_template_id=")
        with self.lock:
            pid = self._require_principal(principal_id)
            self._add_assignment(pid, display_name, template, directory_scope_id, built_in=True)
            role = self._roles.get(template)
            if role is None:
                role = DirectoryRole(
                    stable_guid(self.domain, "role", template), display_name, template
                )
                self._roles[template] = role
            if directory_scope_id == "/" and pid not in role.members:
                role.members.append(pid)
            return role

    def add_custom_role_assignment(
        self,
        principal_id: str,
        display_name: str,
        *,
        role_definition_id: str | None = None,
        directory_scope_id: str = "/",
    ) -> RoleAssignment:
        """An active assignment of a custom role: never a ``directoryRole`` object."""
        custom_id = role_definition_id or stable_guid(self.domain, "custom", display_name)
        definition = custom_id.lower()
        with self.lock:
            pid = self._require_principal(principal_id)
            return self._add_assignment(
                pid, display_name, definition, directory_scope_id, built_in=False
            )

    def _add_assignment(
        self, pid: str, name: str, definition: str, scope: str, *, built_in: bool
    ) -> RoleAssignment:
        self._check_scope(scope)
        assignment = RoleAssignment(
            stable_guid(self.domain, "assignment", definition, pid, scope),
            pid,
            name,
            definition,
            scope,
            built_in,
        )
        if assignment not in self._assignments:
            self._assignments.append(assignment)
        return assignment

    def _check_scope(self, scope: str) -> None:
        if scope == "/":
            return
        prefix = "/administrativeUnits/"
        if not scope.startswith(prefix) or scope[len(prefix) :].lower() not in self._units:
            raise ValueError(f"directory scope must be '/' or an administrative unit's: {scope}")

    def add_eligible_role(
        self,
        principal_id: str,
        display_name: str,
        *,
        role_definition_id: str | None = None,
        directory_scope_id: str = "/",
    ) -> EligibleRole:
        builtin = BUILTIN_ROLE_TEMPLATES.get(display_name)
        definition = (role_definition_id or builtin or "").lower()
        if not definition:
            raise ValueError(f"unknown role {display_name!r}: pass role_definition_id=")
        with self.lock:
            pid = self._require_principal(principal_id)
            self._check_scope(directory_scope_id)
            entry = EligibleRole(
                stable_guid(self.domain, "eligible", pid, definition, directory_scope_id),
                pid,
                display_name,
                definition,
                directory_scope_id=directory_scope_id,
                built_in=definition in BUILTIN_ROLE_TEMPLATES.values(),
            )
            self._eligible.append(entry)
            return entry

    def add_group_eligibility(
        self, principal_id: str, group_id: str, *, access: str = "member"
    ) -> GroupEligibility:
        """PIM for Groups: ``principal_id`` may activate membership or ownership of the group."""
        if access not in ("member", "owner"):
            raise ValueError("access must be 'member' or 'owner'")
        with self.lock:
            pid = self._require_principal(principal_id)
            gid = group_id.lower()
            if gid not in self._groups:
                raise KeyError(f"no such group: {group_id}")
            entry = GroupEligibility(
                stable_guid(self.domain, "group-eligible", pid, gid, access), pid, gid, access
            )
            self._group_eligible.append(entry)
            return entry

    def add_owner(self, group_id: str, user_id: str) -> None:
        with self.lock:
            group = self._groups.get(group_id.lower())
            if group is None:
                raise KeyError(f"no such group: {group_id}")
            uid = self._require_user(user_id).id
            if uid not in group.owners:
                group.owners.append(uid)

    def add_administrative_unit(
        self, display_name: str, *, restricted: bool = False, id: str | None = None
    ) -> AdministrativeUnit:
        """An administrative unit; ``restricted`` makes it a restricted management unit."""
        uid = (id or stable_guid(self.domain, "unit", display_name)).lower()
        with self.lock:
            unit = AdministrativeUnit(uid, display_name, restricted)
            self._units[uid] = unit
            return unit

    def add_unit_member(self, unit_id: str, user_id: str) -> None:
        with self.lock:
            unit = self._units.get(unit_id.lower())
            if unit is None:
                raise KeyError(f"no such administrative unit: {unit_id}")
            uid = self._require_user(user_id).id
            if uid not in unit.members:
                unit.members.append(uid)

    def management_restricted(self, user_id: str) -> bool:
        """``isManagementRestricted``: a member of at least one restricted management unit."""
        with self.lock:
            return any(u.restricted and user_id.lower() in u.members for u in self._units.values())

    def transitive_groups(self, object_id: str) -> list[Group]:
        """Groups the object belongs to directly or through nesting, nearest first."""
        with self.lock:
            found: list[Group] = []
            frontier = [object_id.lower()]
            seen: set[str] = set()
            while frontier:
                current = frontier.pop(0)
                for group in self._groups.values():
                    if current in group.members and group.id not in seen:
                        seen.add(group.id)
                        found.append(group)
                        frontier.append(group.id)
            return found

    def roles_of(self, user_id: str, *, transitive: bool = True) -> list[DirectoryRole]:
        """Active roles held by the user directly or, if transitive, through any group."""
        with self.lock:
            principals = {user_id.lower()}
            if transitive:
                principals |= {g.id for g in self.transitive_groups(user_id)}
            return [r for r in self._roles.values() if principals & set(r.members)]


def password_method_json(user: User) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.passwordAuthenticationMethod",
        "id": PASSWORD_METHOD_ID,
        "createdDateTime": user.created,
        "password": None,
    }
