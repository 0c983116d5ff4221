"""How the protection check reads Graph: each read named for its failure, reads that go out
together, and the permission each needs.

Shared by the account's own reads (``targets``) and the tenant-wide ones (``tenant``): a
failed read must say what it was and what to grant, because "Graph said 403" alone does not.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

from shared.graph.contract import GraphError, ProtectionReadError

T = TypeVar("T")

# The Graph application permission each read needs (least privileged that Microsoft documents).
ROLE_MANAGEMENT = "RoleManagement.Read.Directory"
GROUP_MEMBER = "GroupMember.Read.All"
PIM_FOR_GROUPS = "PrivilegedEligibilitySchedule.Read.AzureADGroup"
APPLICATIONS = "Application.Read.All"


async def named_read(what: str, permission: str, call: Awaitable[T], subject: str = "") -> T:
    """Name the read in its failure. ``what`` is the kind of read (a caller may see it);
    ``subject`` the object's id, which only the ledger and the audit trail keep."""
    try:
        return await call
    except ProtectionReadError:
        raise
    except GraphError as exc:
        raise ProtectionReadError(
            exc.status,
            exc.code,
            exc.message,
            exc.request_id,
            exc.retry_after,
            read=what,
            permission=permission,
            subject=subject,
        ) from None


@contextlib.asynccontextmanager
async def together() -> AsyncIterator[asyncio.TaskGroup]:
    """Reads that go out at once. One failing cancels the rest (no point in waiting for
    them: the decision has failed) and is raised as itself, not as an exception group."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
