"""Applications and service principals in the emulated tenant: app registrations, their
service principals, owners of either, and application permissions granted (app role
assignments), with Microsoft Graph's own service principal and its app roles seeded.

An owner of an application or of its service principal can add a credential and act with
whatever the service principal holds; the app's protection check follows that path, so tests
seed it here. Reached as ``Tenant.apps``; every method takes the tenant's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from ._common import new_guid, stable_guid
from .model import Application, AppRole, AppRoleAssignment, RoleAssignment, ServicePrincipal, User

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# A few of Microsoft Graph's application permissions, with the ids they have in every tenant.
GRAPH_APP_ROLES = {
    "UserAuthenticationMethod.ReadWrite.All": "50483e42-d915-4231-9639-7fdb7fd190e5",
    "RoleManagement.ReadWrite.Directory": "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8",
    "AppRoleAssignment.ReadWrite.All": "06b708a9-e830-4db3-a914-8e69da51d44f",
    "Application.ReadWrite.All": "1bfefb4e-e0b5-418b-a88f-73c46d2cc8e9",
    "Directory.ReadWrite.All": "19dbc75e-c2e2-444c-a770-ec69d8559fc7",
    "Application.Read.All": "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    "User.Read.All": "df021288-bdef-4463-88db-98f22de89214",
    "GroupMember.Read.All": "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    "Mail.Read": "810c84a8-4a9e-49e6-bf7d-12d183f40d01",
}


class Applications:
    """The tenant's applications, service principals and app role assignments."""

    def __init__(
        self,
        domain: str,
        lock: threading.RLock,
        require_user: Callable[[str], User],
        role_assignments: list[RoleAssignment],
    ) -> None:
        """``require_user`` and ``role_assignments`` are the tenant's: owners must be its
        users, and a service principal's directory roles sit among its role assignments."""
        self.lock = lock
        self._require_user = require_user
        self._role_assignments = role_assignments
        self.service_principals: dict[str, ServicePrincipal] = {}
        self.applications: dict[str, Application] = {}  # by object id
        self.assignments: list[AppRoleAssignment] = []
        graph = ServicePrincipal(
            stable_guid(domain, "sp", GRAPH_APP_ID),
            GRAPH_APP_ID,
            "Microsoft Graph",
            app_roles=[AppRole(i, v) for v, i in GRAPH_APP_ROLES.items()],
        )
        self.service_principals[graph.id] = graph
        self.graph = graph

    def add_application(
        self, display_name: str, *, app_id: str | None = None, registered_here: bool = True
    ) -> ServicePrincipal:
        """An application's service principal; with ``registered_here`` its app registration
        too (a multi-tenant app from elsewhere has only the service principal)."""
        with self.lock:
            app_id = (app_id or new_guid()).lower()
            sp = ServicePrincipal(new_guid(), app_id, display_name)
            self.service_principals[sp.id] = sp
            if registered_here:
                app = Application(new_guid(), app_id, display_name)
                self.applications[app.id] = app
            return sp

    def add_managed_identity(self, display_name: str) -> ServicePrincipal:
        """A managed identity's service principal: no app registration, no owners."""
        with self.lock:
            sp = ServicePrincipal(new_guid(), new_guid(), display_name, "ManagedIdentity")
            self.service_principals[sp.id] = sp
            return sp

    def application_of(self, sp_id: str) -> Application | None:
        with self.lock:
            app_id = self.service_principals[sp_id.lower()].app_id
            return next((a for a in self.applications.values() if a.app_id == app_id), None)

    def add_sp_owner(self, sp_id: str, user_id: str) -> None:
        """Make a user an owner of the service principal (Enterprise application owner)."""
        with self.lock:
            sp = self.service_principals[sp_id.lower()]
            if user_id.lower() not in sp.owners:
                sp.owners.append(self._require_user(user_id).id)

    def add_app_owner(self, sp_id: str, user_id: str) -> None:
        """Make a user an owner of the service principal's app registration."""
        with self.lock:
            app = self.application_of(sp_id)
            if app is None:
                raise KeyError(f"service principal {sp_id} has no application in this tenant")
            if user_id.lower() not in app.owners:
                app.owners.append(self._require_user(user_id).id)

    def grant(self, sp_id: str, permission: str) -> AppRoleAssignment:
        """Grant a Microsoft Graph application permission (by its value) to the principal."""
        with self.lock:
            sp = self.service_principals[sp_id.lower()]
            assignment = AppRoleAssignment(
                stable_guid("approle", sp.id, permission),
                sp.id,
                "ServicePrincipal",
                sp.display_name,
                self.graph.id,
                self.graph.display_name,
                GRAPH_APP_ROLES[permission],
            )
            self.assignments.append(assignment)
            return assignment

    def assign_directory_role(self, sp_id: str, display_name: str, role_template_id: str) -> None:
        """An active directory role assigned to the service principal, at tenant scope."""
        with self.lock:
            sp = self.service_principals[sp_id.lower()]
            definition = role_template_id.lower()
            self._role_assignments.append(
                RoleAssignment(
                    stable_guid("assignment", definition, sp.id), sp.id, display_name, definition
                )
            )
