"""The directory's objects as plain records: users, groups, directory roles, role
assignments, PIM eligibilities and administrative units.

:class:`~emulator.tenant.Tenant` stores them and keeps their invariants; users, groups and
directory roles render their own Graph JSON, so every handler that lists one shows it alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .methods import Method

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
    manager_id: str | None = None
    # None: the default rule of :attr:`has_mailbox`; True/False overrides it.
    mailbox: bool | None = None

    @property
    def has_mailbox(self) -> bool:
        """Whether Exchange Online hosts a mailbox for the user. By default a member with a
        ``mail`` address has one and a guest never does (a guest's ``mail`` is their address
        at home); ``mailbox`` overrides that, e.g. for a member without a licence."""
        if self.mailbox is not None:
            return self.mailbox
        return self.mail is not None and self.user_type == "Member"

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

    def add_method(self, method: Method, *, default: bool = False) -> None:
        """Register a seeded method; a new pass replaces the user's old one, as in Graph."""
        if method.id in self.methods:
            raise ValueError(f"user {self.user_principal_name} already has method {method.id}")
        if method.kind == "temporaryAccessPass":
            self.drop_temporary_access_pass()
            self.last_tap = method.secret
        self.methods[method.id] = method
        if default:
            self.default_method_id = method.id

    def drop_temporary_access_pass(self) -> None:
        """A user has at most one Temporary Access Pass; issuing one first drops the old."""
        for mid, method in list(self.methods.items()):
            if method.kind == "temporaryAccessPass":
                del self.methods[mid]
                if self.default_method_id == mid:
                    self.default_method_id = None


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


# Group properties that $select may name (every one the emulator knows).
GROUP_PROPERTIES = (
    "id",
    "displayName",
    "description",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "securityEnabled",
    "visibility",
    "createdDateTime",
)


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
class AppRole:
    """An application permission a resource service principal offers (``appRoles``)."""

    id: str
    value: str
    allowed_member_types: tuple[str, ...] = ("Application",)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "value": self.value,
            "displayName": self.value,
            "description": self.value,
            "allowedMemberTypes": list(self.allowed_member_types),
            "isEnabled": True,
            "origin": "Application",
        }


@dataclass
class ServicePrincipal:
    """A service principal: an application's (or a managed identity's) identity in the
    tenant. ``owners`` may change its credentials; its ``app_id`` names its application."""

    id: str
    app_id: str
    display_name: str
    service_principal_type: str = "Application"
    app_roles: list[AppRole] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "appId": self.app_id,
            "displayName": self.display_name,
            "servicePrincipalType": self.service_principal_type,
            "appRoles": [r.to_json() for r in self.app_roles],
        }


@dataclass
class Application:
    """An app registration, which exists only in its home tenant (a multi-tenant app has a
    service principal elsewhere but no application object there)."""

    id: str
    app_id: str
    display_name: str
    owners: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "appId": self.app_id, "displayName": self.display_name}


@dataclass
class AppRoleAssignment:
    """An application permission granted: ``principal_id`` holds ``app_role_id`` of the
    resource service principal (``appRoleAssignedTo`` on the resource)."""

    id: str
    principal_id: str
    principal_type: str
    principal_display_name: str
    resource_id: str
    resource_display_name: str
    app_role_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "deletedDateTime": None,
            "appRoleId": self.app_role_id,
            "createdDateTime": "2025-01-01T00:00:00Z",
            "principalDisplayName": self.principal_display_name,
            "principalId": self.principal_id,
            "principalType": self.principal_type,
            "resourceDisplayName": self.resource_display_name,
            "resourceId": self.resource_id,
        }
