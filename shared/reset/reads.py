"""What a reset reads before it changes anything, started as early and as together as Graph allows.

The user, the protection paths and the registered methods are independent reads once the user's
object id is known, so they leave as one batch: one round trip for a user named by object id,
two for a user named by UPN (the UPN must be resolved first). The protection check's
tenant-wide reads need no user at all: they leave with the first batch. Admission starts them
while it checks the user exists and writes the ledger, and the engine picks up the results;
nothing is decided here, so a protected account is still refused (and recorded) by the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.graph.contract import DirectoryUser, Gateway, TapPolicy
from shared.guards import Paths, TargetPolicy, read_paths
from shared.guards.tenant import tenant_reads
from shared.models import RegisteredMethod

T = TypeVar("T")

_OBJECT_ID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


class ResetReads:
    """The reads of one reset, running; await ``user``, ``paths`` and ``methods`` for them."""

    def __init__(
        self,
        gateway: Gateway,
        key: str,
        policy: TargetPolicy,
        *,
        reuse_tenant_reads: bool = False,
        tap_policy: bool = False,
    ) -> None:
        self._gateway, self._policy = gateway, policy
        self._user = asyncio.ensure_future(gateway.get_user(key))
        # The tenant-wide reads need no user: out with the user's resolution, so their
        # follow-ups (owners) go beside the user-side reads rather than after them.
        self._tenant = asyncio.ensure_future(
            tenant_reads(gateway, policy.protected_group_ids, reuse=reuse_tenant_reads)
        )
        # A pass is judged by the tenant's policy before anything changes; read beside the rest.
        self._tap_policy = asyncio.ensure_future(gateway.tap_policy()) if tap_policy else None
        known_id = key.lower() if _OBJECT_ID.fullmatch(key) else None

        async def user_id() -> str:
            return known_id or (await asyncio.shield(self._user)).id

        async def after_id(read: Callable[[str], Awaitable[T]]) -> T:
            return await read(await user_id())

        self._paths = asyncio.ensure_future(
            after_id(
                lambda uid: read_paths(gateway, uid, policy, tenant=asyncio.shield(self._tenant))
            )
        )
        self._methods = asyncio.ensure_future(after_id(gateway.list_methods))

    async def user(self) -> DirectoryUser:
        return await asyncio.shield(self._user)

    async def paths(self) -> Paths:
        """The protection paths of the user Graph resolved, never of the raw request key:
        read early by the object id the request named, they are read again by the resolved
        id should Graph have answered for another object."""
        paths = await asyncio.shield(self._paths)
        resolved = (await self.user()).id.lower()
        if paths.uid != resolved:
            tenant = asyncio.shield(self._tenant)
            self._paths = asyncio.ensure_future(
                read_paths(self._gateway, resolved, self._policy, tenant=tenant)
            )
            paths = await asyncio.shield(self._paths)
        return paths

    async def methods(self) -> list[RegisteredMethod]:
        return await asyncio.shield(self._methods)

    async def tap_policy(self, gateway: Gateway) -> TapPolicy:
        """The tenant's pass policy: the read started with the others, or one now."""
        if self._tap_policy is None:
            self._tap_policy = asyncio.ensure_future(gateway.tap_policy())
        return await asyncio.shield(self._tap_policy)

    async def close(self) -> None:
        """Stop what is still running and collect what failed (a refused request, or one the
        engine stopped early, leaves reads nobody will look at)."""
        tasks = tuple(
            t
            for t in (self._user, self._tenant, self._paths, self._methods, self._tap_policy)
            if t is not None
        )
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
