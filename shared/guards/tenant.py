"""The tenant-wide part of the protection check: what is the same for every user.

Role-assignable groups with their owners, the owners of each protected group, the groups
nested (at any depth) inside a protected group with their owners (an owner of a nested group
can add themselves to it and so become a transitive member of the protected group, the same
reasoning that protects the protected group's own owners), and privileged applications with
their owners (``shared.guards.applications``).

These reads need no user, so a reset starts them with its first read (the UPN's resolution);
the follow-up reads (owners of nested groups and of privileged applications) then go out
beside the account's own reads.
A scheduled sweep's resets reuse them for a few minutes; a webhook's decision reads afresh.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field, replace

from shared.graph.contract import Gateway, GroupRef
from shared.guards.applications import PrivilegedApp, read_privileged_apps
from shared.guards.reading import GROUP_MEMBER, named_read, together

# How long a sweep's resets reuse the tenant-wide reads.
TENANT_READS_SECONDS = 300.0


@dataclass(frozen=True)
class TenantReads:
    """The tenant-wide part of a decision, the same for every user."""

    role_assignable: dict[str, GroupRef]
    protected_group_owners: dict[str, frozenset[str]]
    # Groups nested in a protected group (any depth), each with its owners.
    nested_group_owners: dict[str, frozenset[str]] = field(default_factory=dict)
    # Service principals with privileged rights, with their owners and their apps' owners.
    privileged_apps: tuple[PrivilegedApp, ...] = ()


_cache: weakref.WeakKeyDictionary[object, tuple[float, frozenset[str], TenantReads]] = (
    weakref.WeakKeyDictionary()
)


async def tenant_reads(
    gateway: Gateway, protected: frozenset[str], *, reuse: bool = False
) -> TenantReads:
    """Read (or, for a sweep, reuse) the tenant-wide part of the decision."""
    cached = _cache.get(gateway)
    if reuse and cached is not None:
        read_at, for_groups, reads = cached
        if for_groups == protected and time.monotonic() - read_at < TENANT_READS_SECONDS:
            return reads
    # The group reads and the application reads each take their own steps, side by side.
    async with together() as both:
        groups = both.create_task(_group_reads(gateway, protected))
        apps = both.create_task(read_privileged_apps(gateway))
    reads = replace(groups.result(), privileged_apps=apps.result())
    _cache[gateway] = (time.monotonic(), protected, reads)
    return reads


async def _group_reads(gateway: Gateway, protected: frozenset[str]) -> TenantReads:
    """Role-assignable groups with owners; protected groups' owners and nested groups; then
    the nested groups' owners."""
    async with together() as first:
        groups = first.create_task(
            named_read(
                "the role-assignable groups and their owners",
                GROUP_MEMBER,
                gateway.role_assignable_groups(),
            )
        )
        owners = {
            g: first.create_task(
                named_read(
                    "the owners of a protected group",
                    GROUP_MEMBER,
                    gateway.group_owner_ids(g),
                    subject=g,
                )
            )
            for g in protected
        }
        nested = {
            g: first.create_task(
                named_read(
                    "the groups nested in a protected group",
                    GROUP_MEMBER,
                    gateway.nested_group_ids(g),
                    subject=g,
                )
            )
            for g in protected
        }
    inner = sorted({n for task in nested.values() for n in task.result()} - protected)
    async with together() as second:
        inner_owners = {
            n: second.create_task(
                named_read(
                    "the owners of a group nested in a protected group",
                    GROUP_MEMBER,
                    gateway.group_owner_ids(n),
                    subject=n,
                )
            )
            for n in inner
        }
    return TenantReads(
        role_assignable={g.id: g for g in groups.result()},
        protected_group_owners={g: task.result() for g, task in owners.items()},
        nested_group_owners={n: task.result() for n, task in inner_owners.items()},
    )
