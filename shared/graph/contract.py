"""What the engine knows of Graph: plain types and the gateway's shape, free of SDK imports.

Keeping the SDK out of this module lets the engine, the triggers and the tests that only need the
types load without paying for msgraph's import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from shared.models import GraphErrorInfo, PhoneType, RegisteredMethod

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

    @property
    def is_guest(self) -> bool:
        return (self.user_type or "").lower() == "guest"


@dataclass(frozen=True)
class DirectoryRoleRef:
    template_id: str
    name: str


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


class Gateway(Protocol):
    """The Graph operations a reset is made of."""

    async def get_user(self, key: str) -> DirectoryUser: ...

    async def list_methods(self, user_id: str) -> list[RegisteredMethod]: ...

    # Writes return Graph's request-id of the call (None if Graph sent none), for the audit trail.
    async def delete_method(self, user_id: str, method: RegisteredMethod) -> str | None: ...

    async def revoke_sessions(self, user_id: str) -> str | None: ...

    async def directory_roles(self, user_id: str) -> list[DirectoryRoleRef]: ...

    async def eligible_role_ids(self, user_id: str) -> set[str]: ...

    async def group_ids(self, user_id: str) -> set[str]: ...

    async def add_phone(self, user_id: str, number: str, phone_type: PhoneType) -> CreatedPhone: ...

    async def create_temporary_access_pass(
        self, user_id: str, lifetime_minutes: int, usable_once: bool
    ) -> CreatedTemporaryAccessPass: ...

    async def group_user_members(self, group_id: str) -> list[DirectoryUser]: ...

    async def remove_group_member(self, group_id: str, member_id: str) -> bool: ...
