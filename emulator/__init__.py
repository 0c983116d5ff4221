"""A local stand-in for Microsoft Graph v1.0, the App Service managed-identity endpoint and
Verified ID's Request Service API (:mod:`emulator.verifiedid`).

It lets the MFA reset code run end to end (token acquisition, the SDK, retries, batching)
against a directory whose state tests control and inspect, without a real tenant::

    with GraphEmulator(demo_tenant()) as emu:
        os.environ.update(emu.env())      # GRAPH_BASE_URL, IDENTITY_*, VERIFIED_ID_BASE_URL
        emu.faults.add(Fault(path="phoneMethods", status=429, retry_after="1"))
        ...                               # run the code under test
        assert [r.status for r in emu.writes()] == [...]
        assert emu.outbox.to("adele@fabrikam.example")  # what sendMail accepted, decoded

The behaviour follows the project's Graph reference (its "fake server" contract); where
Graph's behaviour is undocumented the emulator picks the documented reading and says so
in the handler that implements it.
"""

from __future__ import annotations

from .demo import demo_tenant
from .faults import Fault
from .methods import TapPolicy
from .model import (
    AdministrativeUnit,
    DirectoryRole,
    EligibleRole,
    Group,
    GroupEligibility,
    RoleAssignment,
    User,
)
from .outbox import Outbox, SentMessage, extract_links
from .requestlog import RecordedRequest
from .server import GraphEmulator
from .tenant import Tenant

__all__ = [
    "AdministrativeUnit",
    "DirectoryRole",
    "EligibleRole",
    "Fault",
    "GraphEmulator",
    "Group",
    "GroupEligibility",
    "Outbox",
    "RecordedRequest",
    "RoleAssignment",
    "SentMessage",
    "TapPolicy",
    "Tenant",
    "User",
    "demo_tenant",
    "extract_links",
]
