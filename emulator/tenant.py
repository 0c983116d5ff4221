"""In-memory directory that the emulator serves: users (with their authentication methods,
managers and mailboxes, in :mod:`emulator.tenant_users`), groups, directory roles, PIM
eligibilities, and (``apps``) applications.

The seeding API is plain Python so tests can build exactly the tenant a scenario needs,
and read the state back (methods, default, revocations, last TAP) after the code under
test has talked to the emulator over HTTP. Every public method takes the tenant's single
lock, which the HTTP handlers share, so tests may poke the tenant while requests run.
"""

from __future__ import annotations

from ._common import GUID_RE, new_guid, stable_guid
from .apps import Applications
from .model import (
    BUILTIN_ROLE_TEMPLATES,
    AdministrativeUnit,
    DirectoryRole,
    EligibleRole,
    Group,
    GroupEligibility,
    RoleAssignment,
)
from .tenant_users import UserDirectory


class Tenant(UserDirectory):
    """The emulated directory. All reads and writes go through ``self.lock``."""

    def __init__(self, domain: str = "contoso.example") -> None:
        super().__init__(domain)
        self._groups: dict[str, Group] = {}
        self._roles: dict[str, DirectoryRole] = {}  # by role template id
        self._eligible: list[EligibleRole] = []
        self._assignments: list[RoleAssignment] = []
        self._group_eligible: list[GroupEligibility] = []
        self._units: dict[str, AdministrativeUnit] = {}
        self.apps = Applications(domain, self.lock, self._require_user, self._assignments)
        # App roles the app's identity holds on the "Verifiable Credentials Service Request"
        # service principal (infra/app/verified-id-permissions.bicep grants the first);
        # remove it to test a missing grant.
        self.verified_id_roles: set[str] = {"VerifiableCredential.Create.PresentRequest"}

    def _id_in_use(self, object_id: str) -> bool:
        return object_id in self._users or object_id in self._groups

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
