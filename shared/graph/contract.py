"""What the engine knows of Graph: plain types and the gateway's shape, free of SDK imports.

Keeping the SDK out of this module lets the engine, the triggers and the tests that only need the
types load without paying for msgraph's import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.models import GraphErrorInfo, MethodType, PhoneType, RegisteredMethod

# Statuses worth another attempt later: throttled, unavailable, timed out, or no answer at all.
TRANSIENT_STATUSES = frozenset({None, 408, 429, 500, 502, 503, 504})


@dataclass
class GraphError(Exception):
    """A Graph call that failed after the SDK's own retries."""

    status: int | None
    code: str
    message: str
    request_id: str | None = None
    retry_after: str | None = None

    def __post_init__(self) -> None:
        super().__init__(f"Graph {self.status or 'no response'} {self.code}: {self.message}")

    @property
    def transient(self) -> bool:
        """True when Graph was throttling or unavailable rather than refusing this request."""
        return self.status in TRANSIENT_STATUSES

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def default_method_refusal(self) -> bool:
        """Graph's refusal to delete the user's default method while others remain.

        v1.0 cannot read which method is the default, so this error is how a reset finds out;
        both known wordings ("Cannot delete default method ...", "... matches the user's current
        default authentication method ...") carry the word "default".
        """
        return self.status == 400 and "default" in self.message.lower()

    def info(self) -> GraphErrorInfo:
        return GraphErrorInfo(
            status=self.status, code=self.code, message=self.message, request_id=self.request_id
        )


@dataclass
class ProtectionReadError(GraphError):
    """A read the protection check needs failed: the check fails closed, nothing is written.

    Still a ``GraphError``, so every path that handles Graph failures (retry when transient,
    record the failure) handles it too; ``read`` and ``permission`` tell the admin what to fix.
    """

    read: str = ""
    permission: str = ""
    # The object read (a role-assignable or protected group's id): for the ledger and the
    # audit trail only. ``read`` names the kind of read, which is all a caller is told.
    subject: str = ""

    def __post_init__(self) -> None:
        Exception.__init__(
            self,
            f"could not read {self.read}{subject_text(self.subject)} for the protection "
            f"check, which needs {self.permission} (Graph {self.status or 'no response'} "
            f"{self.code}: {self.message})",
        )


def subject_text(subject: str) -> str:
    """How a failed protection read names its object in the ledger's text; a status read
    removes it again (``shared.guards.targets.public_refusal``)."""
    return f" [object {subject}]" if subject else ""


class UserNotFoundError(Exception):
    """Graph has no user with this key (404 on the user itself)."""

    def __init__(self, key: str, request_id: str | None) -> None:
        super().__init__(f"no user {key!r}")
        self.key = key
        self.request_id = request_id


@dataclass(frozen=True)
class DirectoryUser:
    id: str
    user_principal_name: str
    user_type: str | None
    account_enabled: bool | None
    display_name: str | None
    # Member of a restricted management administrative unit: Entra lets only administrators
    # scoped to that unit change the account (None: Graph did not say).
    management_restricted: bool | None = None
    # For notifications: the user's own mailbox and how to greet them.
    mail: str | None = None
    given_name: str | None = None
    surname: str | None = None

    @property
    def is_guest(self) -> bool:
        return (self.user_type or "").lower() == "guest"


@dataclass(frozen=True)
class RoleGrant:
    """A directory role a principal holds (active assignment) or may activate (PIM
    eligibility), at tenant scope (``/``) or an administrative unit's; built-in or custom."""

    principal_id: str
    role_definition_id: str
    template_id: str
    name: str
    directory_scope_id: str

    @property
    def scope_text(self) -> str:
        if self.directory_scope_id in ("", "/"):
            return ""
        return f" (scope {self.directory_scope_id})"


@dataclass(frozen=True)
class GroupRef:
    """A group as the protection check sees it; ``owner_ids`` only where they were read."""

    id: str
    name: str
    role_assignable: bool
    owner_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ServicePrincipalRef:
    """A service principal as the protection check sees it: its application (by id), and
    who owns it (an owner can add a credential and act with its rights)."""

    id: str
    app_id: str
    name: str
    managed_identity: bool
    owner_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class GroupEligibility:
    """PIM for Groups: the principal may activate ``access`` (member or owner) of the group."""

    group_id: str
    access: str


@dataclass(frozen=True)
class CreatedPhone:
    id: str
    request_id: str | None = None


@dataclass(frozen=True)
class CreatedTemporaryAccessPass:
    id: str
    value: str
    lifetime_minutes: int
    usable_once: bool
    starts_at: datetime | None
    request_id: str | None = None

    def __repr__(self) -> str:  # the pass is a credential: keep it out of tracebacks
        return f"CreatedTemporaryAccessPass(id={self.id!r}, value='***')"


@dataclass(frozen=True)
class TapPolicy:
    """The tenant's Temporary Access Pass policy, as far as issuing a pass depends on it."""

    enabled: bool
    minimum_lifetime: int
    maximum_lifetime: int
    usable_once: bool  # every pass must be one-time use
    include_group_ids: frozenset[str] | None  # None: all users
    # Members of these groups get no pass, even when an included group has them too.
    exclude_group_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Contact:
    """Someone a notification may go to (the user's manager), as Graph returns them."""

    id: str
    display_name: str | None
    mail: str | None
    user_type: str | None = None


class Mailer(Protocol):
    """What notifying the user needs of Graph (``shared.graph.mail``)."""

    async def send_mail(self, sender: str, mime: bytes) -> str | None: ...

    async def manager(self, user_id: str) -> Contact | None: ...

    async def email_method_addresses(self, user_id: str) -> list[str]: ...


class Gateway(Protocol):
    """The Graph operations a reset is made of."""

    @property
    def mail(self) -> Mailer: ...

    @property
    def removable_types(self) -> frozenset[MethodType]: ...

    async def tap_policy(self) -> TapPolicy: ...

    async def get_user(self, key: str) -> DirectoryUser: ...

    async def list_methods(self, user_id: str) -> list[RegisteredMethod]: ...

    # Writes return Graph's request-id of the call (None if Graph sent none), for the audit trail.
    async def delete_method(self, user_id: str, method: RegisteredMethod) -> str | None: ...

    async def revoke_sessions(self, user_id: str) -> str | None: ...

    # Reads of the protection check (shared.guards.targets).
    async def role_assignments(self, principal_id: str) -> list[RoleGrant]: ...

    async def role_eligibilities(self, principal_id: str) -> list[RoleGrant]: ...

    async def member_groups(self, user_id: str) -> list[GroupRef]: ...

    async def group_eligibilities(self, principal_id: str) -> list[GroupEligibility]: ...

    async def role_assignable_groups(self) -> list[GroupRef]: ...

    async def group_owner_ids(self, group_id: str) -> frozenset[str]: ...

    async def nested_group_ids(self, group_id: str) -> frozenset[str]: ...

    async def graph_app_roles(self) -> dict[str, str]: ...

    async def graph_permission_grants(self) -> dict[str, frozenset[str]]: ...

    async def service_principal_roles(self) -> dict[str, list[RoleGrant]]: ...

    async def service_principal(self, sp_id: str) -> ServicePrincipalRef | None: ...

    async def application_owner_ids(self, app_id: str) -> frozenset[str]: ...

    async def add_phone(self, user_id: str, number: str, phone_type: PhoneType) -> CreatedPhone: ...

    async def create_temporary_access_pass(
        self, user_id: str, lifetime_minutes: int, usable_once: bool
    ) -> CreatedTemporaryAccessPass: ...

    async def group_user_members(self, group_id: str) -> list[DirectoryUser]: ...

    async def remove_group_member(self, group_id: str, member_id: str) -> bool: ...
