"""In-memory directory that the emulator serves: users, their authentication methods,
groups, directory roles, PIM eligibilities, and (``apps``) applications.

The seeding API is plain Python so tests can build exactly the tenant a scenario needs, and
read the state back (methods, default, revocations, last TAP) after the code under test has
talked to the emulator over HTTP. Every public method takes the tenant's single lock, which
the HTTP handlers share, so tests may poke the tenant while requests run.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from ._common import GUID_RE, PASSWORD_METHOD_ID, camel, new_guid, stable_guid, utcnow
from .apps import Applications
from .methods import TapPolicy, password_method_json, seed_values, seeded_method
from .model import (
    BUILTIN_ROLE_TEMPLATES,
    AdministrativeUnit,
    DirectoryRole,
    EligibleRole,
    Group,
    GroupEligibility,
    RoleAssignment,
    User,
)


class Tenant:
    """The emulated directory. All reads and writes go through ``self.lock``."""

    def __init__(self, domain: str = "contoso.example") -> None:
        self.domain = domain
        self.lock = threading.RLock()
        self.tap_policy = TapPolicy()
        self.revoke_returns_204 = False
        # Which other methods stop the default from being deleted. None = any non-password
        # method (the documented reading). Real Graph may only count the legacy MFA methods;
        # set e.g. {"phone", "microsoftAuthenticator", "softwareOath"} to test that reading.
        self.default_blocking_kinds: frozenset[str] | None = None
        self._users: dict[str, User] = {}
        self._groups: dict[str, Group] = {}
        self._roles: dict[str, DirectoryRole] = {}  # by role template id
        self._eligible: list[EligibleRole] = []
        self._assignments: list[RoleAssignment] = []
        self._group_eligible: list[GroupEligibility] = []
        self._units: dict[str, AdministrativeUnit] = {}
        self.apps = Applications(domain, self.lock, self._require_user, self._assignments)

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
        """Register a method for a user and return its id. Laxer than the API (no
        mobile-before-alternateMobile check), so a test can build states the API refuses."""
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

    # -- groups and roles ------------------------------------------------------------------

    def add_group(
        self,
        display_name: str,
        *,
        id: str | None = None,  # mirrors the Graph property name
        role_assignable: bool = False,
        description: str | None = None,
    ) -> Group:
        gid = (id or new_guid()).lower()
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
            group = self._require_group(group_id)
            mid = member_id.lower()
            if mid not in self._users and mid not in self._groups:
                raise KeyError(f"no such user or group: {member_id}")
            if mid == group.id:
                raise ValueError("a group cannot be a member of itself")
            if mid not in group.members:
                group.members.append(mid)

    def members(self, group_id: str) -> list[str]:
        with self.lock:
            group = self._require_group(group_id)
            return list(group.members)

    def _require_group(self, group_id: str) -> Group:
        group = self._groups.get(group_id.lower())
        if group is None:
            raise KeyError(f"no such group: {group_id}")
        return group

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
            gid = self._require_group(group_id).id
            entry = GroupEligibility(
                stable_guid(self.domain, "group-eligible", pid, gid, access), pid, gid, access
            )
            self._group_eligible.append(entry)
            return entry

    def add_owner(self, group_id: str, user_id: str) -> None:
        with self.lock:
            group = self._require_group(group_id)
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
