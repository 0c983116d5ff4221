"""The users of the emulated directory: their authentication methods, managers, ``mail``
addresses and mailboxes, and what Exchange Online lets the app's identity do with mail.

:class:`~emulator.tenant.Tenant` builds on this class with groups and roles; the split keeps
each half readable. Every public method takes the tenant's single lock, which the HTTP
handlers share, so tests may poke the directory while requests run.

Mail, as the emulator models it (see :mod:`emulator.graph.mail` for the HTTP answers):

* ``sendMail`` sends as a mailbox; a mailbox exists for a member with a ``mail`` address
  unless :meth:`UserDirectory.set_mailbox` says otherwise; guests have none.
* The app may send as a mailbox in its Exchange Online RBAC for Applications management
  scope (``New-ManagementRoleAssignment -Role "Application Mail.Send" -CustomResourceScope``),
  set here with :meth:`UserDirectory.allow_send_as`. With RBAC for Applications no Entra
  ``Mail.Send`` grant is needed; a tenant-wide Entra grant (``"Mail.Send"`` in
  :attr:`UserDirectory.app_roles`) would let it send as anyone, which is what the scope avoids.
* Every accepted message lands in :attr:`UserDirectory.outbox`.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from ._common import GUID_RE, PASSWORD_METHOD_ID, camel, new_guid, utcnow
from .methods import TapPolicy, password_method_json, seed_values, seeded_method
from .model import User
from .outbox import Outbox

# The Graph application permissions infra/app/graph-permissions.bicep grants the app's
# managed identity. The emulator consults them only where a route's answer depends on them
# (the manager read needs User.Read.All; Mail.Send would open every mailbox).
DEFAULT_APP_ROLES = frozenset(
    {
        "UserAuthenticationMethod.ReadWrite.All",
        "User.Read.All",
        "RoleManagement.Read.Directory",
        "GroupMember.Read.All",
    }
)


class UserDirectory:
    """Users, their methods, managers and mailboxes. All reads and writes go through
    ``self.lock``."""

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
        # Entra application permissions of the app's identity; edit to test a missing grant.
        self.app_roles: set[str] = set(DEFAULT_APP_ROLES)
        self.outbox = Outbox(self.lock)
        # Hardware OATH tokens unassigned from their user (beta's delete), by id: still in the
        # tenant's inventory, ready to be handed out again.
        self.token_inventory: dict[str, dict[str, Any]] = {}
        self._users: dict[str, User] = {}
        self._send_as: set[str] = set()  # user ids in the RBAC for Applications scope

    def _id_in_use(self, object_id: str) -> bool:
        """Whether an object id is taken; the tenant adds its groups."""
        return object_id in self._users

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
        uid = (id or new_guid()).lower()
        if not GUID_RE.match(uid):
            raise ValueError(f"user id must be a GUID: {uid!r}")
        with self.lock:
            if self._id_in_use(uid):
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
                properties={camel(k): v for k, v in properties.items()},
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
        info, values = seed_values(kind, props)
        with self.lock:
            user = self._require_user(user_id)
            method = seeded_method(
                info,
                values,
                id,
                created=created,
                user_principal_name=user.user_principal_name,
                policy=self.tap_policy,
            )
            user.add_method(method, default=default)
            return method.id

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
            return [
                password_method_json(user.created),
                *(m.to_json(now) for m in user.methods.values()),
            ]

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

    # -- mail, mailboxes and managers ------------------------------------------------------

    def set_mail(self, user_id: str, address: str | None) -> None:
        """Set (or clear) a user's ``mail`` property, the address ``GET /users`` shows."""
        with self.lock:
            self._require_user(user_id).mail = address

    def set_mailbox(self, user_id: str, present: bool | None) -> None:
        """Say whether Exchange hosts a mailbox for the user (``None``: the default rule of
        :attr:`~emulator.model.User.has_mailbox`)."""
        with self.lock:
            self._require_user(user_id).mailbox = present

    def has_mailbox(self, user_id: str) -> bool:
        with self.lock:
            return self._require_user(user_id).has_mailbox

    def add_shared_mailbox(
        self, address: str, *, display_name: str | None = None, id: str | None = None
    ) -> User:
        """A shared mailbox as Entra shows it: a user with sign-in disabled, ``mail`` set to
        its address and a mailbox. Not in the send-as scope until :meth:`allow_send_as`."""
        user = self.add_user(
            address, display_name=display_name, id=id, mail=address, account_enabled=False
        )
        self.set_mailbox(user.id, True)
        return user

    def allow_send_as(self, *user_ids: str) -> None:
        """Put mailboxes (ids or UPNs) in the app's RBAC for Applications management scope for
        the "Application Mail.Send" role: the app may send as them."""
        with self.lock:
            self._send_as.update(self._require_user(u).id for u in user_ids)

    def disallow_send_as(self, *user_ids: str) -> None:
        with self.lock:
            self._send_as.difference_update(self._require_user(u).id for u in user_ids)

    def may_send_as(self, user_id: str) -> bool:
        """Whether the app may send as the mailbox: it is in the RBAC scope, or the app holds
        a tenant-wide Entra ``Mail.Send`` grant (which opens every mailbox)."""
        with self.lock:
            uid = self._require_user(user_id).id
            return uid in self._send_as or "Mail.Send" in self.app_roles

    def set_manager(self, user_id: str, manager_id: str | None) -> None:
        """Make ``manager_id`` (id or UPN) the user's manager; ``None`` removes the manager."""
        with self.lock:
            user = self._require_user(user_id)
            if manager_id is None:
                user.manager_id = None
                return
            manager = self._require_user(manager_id)
            if manager.id == user.id:
                raise ValueError("a user cannot be their own manager")
            user.manager_id = manager.id

    def manager_of(self, user_id: str) -> User | None:
        with self.lock:
            manager_id = self._require_user(user_id).manager_id
            return self._users.get(manager_id) if manager_id else None
