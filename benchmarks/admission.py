"""What admitting one more request costs as the window fills, and the accept phase of a sweep.

Why: admission counts every request against the tenant's hourly cap and the user's daily
cooldown, and the scheduled run admits every member of the reset group in one invocation. If
counting read the window's rows, each admission would cost more than the last; the limiter rows
(``shared.ledger.limits``) are meant to keep it flat. Measured against Azurite, through the
same ``Ledger.accept`` the webhook and the sweep use:

* **admission**: a fresh table; requests for distinct users are admitted one after another
  with ``RESETS_PER_HOUR`` at 10,000, and the cost of the next ``sample`` admissions is timed
  when the window already holds each mark (100, 1,000, 2,000);
* **sweep**: a group of ``members`` users in the emulated tenant; the scheduled run's sweep
  (listing the group, queueing its pages) and then each page's admission, as the page function
  does it, one after another (in Azure pages run in parallel invocations).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from dataclasses import dataclass

from azure.data.tables.aio import TableClient
from pydantic import SecretStr

from benchmarks.reset_speed import environment
from emulator import GraphEmulator, Tenant
from emulator.azurite import Azurite
from shared.keyring import Keyring
from shared.ledger import Ledger, Limits
from shared.ledger.seal import RowSeal
from shared.models import ResetRequest

LIMITS = Limits(per_hour=10_000, per_user_per_day=2)


@dataclass(frozen=True)
class AdmissionCost:
    in_window: int
    ms_per_admission: float


def _request(n: int) -> ResetRequest:
    body = {"user": f"u{n}@contoso.example", "ticket_id": f"T{n}", "requested_by": "bench"}
    return ResetRequest.model_validate_json(json.dumps(body))


async def admission_costs(
    storage: Azurite, marks: tuple[int, ...] = (100, 1000, 2000), sample: int = 50
) -> list[AdmissionCost]:
    """Milliseconds per admission (median of ``sample``) with each mark already admitted."""
    table_name = "Bench" + uuid.uuid4().hex[:12]
    table = TableClient.from_connection_string(storage.connection_string, table_name=table_name)
    # The ledger seals every row it writes; any key will do for measuring.
    keyring = Keyring([SecretStr("bench-signing-key-" + "0" * 32)])
    ledger = Ledger(table, seal=RowSeal(lambda: keyring))
    await ledger.ensure_table()
    costs: list[AdmissionCost] = []
    admitted = 0
    try:
        for mark in marks:
            while admitted < mark:
                await _admit(ledger, admitted)
                admitted += 1
            timings = []
            for _ in range(sample):
                started = time.perf_counter()
                await _admit(ledger, admitted)
                timings.append(time.perf_counter() - started)
                admitted += 1
            costs.append(AdmissionCost(mark, statistics.median(timings) * 1000))
    finally:
        await table.delete_table()
        await table.close()
    return costs


async def _admit(ledger: Ledger, n: int) -> None:
    user = f"{uuid.UUID(int=n)}"
    await ledger.accept(_request(n), str(uuid.uuid4()), limits=LIMITS, user=(user, user))


@dataclass(frozen=True)
class SweepCost:
    members: int
    pages: int
    queued: int
    run_seconds: float  # the scheduled run: list the group, queue the pages
    slowest_page_seconds: float  # the longest single page invocation
    seconds: float  # the run and every page, one after another


async def sweep_cost(storage: Azurite, members: int = 5000) -> SweepCost:
    """One scheduled run's group sweep over ``members`` users: list, then accept each."""
    from shared.cleanup import CleanupRun
    from shared.clock import utc_now
    from shared.graph.client import GraphProvider
    from shared.settings import Settings
    from shared.sweep import PageAdmission, SweepPage, refusal

    tenant = Tenant()
    group = tenant.add_group("MFA reset pending")
    for n in range(members):
        user = tenant.add_user(f"m{n}@contoso.example", display_name=f"Member {n}")
        tenant.add_member(group.id, user.id)
    table_name = "Sweep" + uuid.uuid4().hex[:12]
    with GraphEmulator(tenant) as emu:
        env = {
            **emu.env(),
            "RESET_GROUP_ID": group.id,
            "RESETS_PER_HOUR": "10000",
            "LEDGER_TABLE_NAME": table_name,
            "RESET_STORAGE": storage.connection_string,
            "WORK_ITEM_SIGNING_KEY": "bench-signing-key-" + "0" * 32,
        }
        with environment(env, removed=("AZURE_CLIENT_ID",)):
            settings = Settings.from_environ()
            provider = GraphProvider(settings)
            table = TableClient.from_connection_string(
                storage.connection_string, table_name=table_name
            )
            ledger = Ledger(table, seal=RowSeal(settings.keyring))
            await ledger.ensure_table()
            try:
                run = CleanupRun(ledger, provider.gateway, settings)
                started = time.perf_counter()
                await run._sweep()  # the listing and the pages; no resets run
                run_seconds = time.perf_counter() - started
                page_seconds, queued = [], 0
                for message in run.sweep_pages:
                    page_started = time.perf_counter()
                    page = SweepPage.model_validate_json(message)
                    assert refusal(page, settings, utc_now()) is None
                    gateway = await provider.gateway()
                    queued += (await PageAdmission(ledger, settings, page, gateway).run()).queued
                    page_seconds.append(time.perf_counter() - page_started)
                seconds = time.perf_counter() - started
            finally:
                await provider.close()
                await table.delete_table()
                await table.close()
    return SweepCost(
        members,
        len(page_seconds),
        queued,
        run_seconds,
        max(page_seconds, default=0.0),
        seconds,
    )
