"""No Temporary Access Pass, phone number or token reaches a log line, an exception text or
the ledger, on the paths that succeed and on the paths that fail.

Every log record of every logger (the app's, the SDK's, azure-core's, azure-identity's) is
captured at DEBUG, formatted with its traceback and its extra fields, and scanned together
with every ledger row for the values the emulated tenant and the requests hold.
"""

from __future__ import annotations

import json
import logging
import re

import pytest
from azure.data.tables.aio import TableClient

from emulator import Fault, GraphEmulator, Tenant
from emulator.azurite import Azurite
from tests.support.app import handler
from tests.support.fixtures import StorageNames
from tests.support.functions_host import QueueHost
from tests.support.http import body_of, status, submit

NEW_PHONES = ("+14255550199", "+14255550123", "+14255550145", "+12065550100")


def phone_forms(number: str) -> set[str]:
    """The ways a number could show up: as given, without spaces, and its national digits."""
    digits = re.sub(r"\D", "", number)
    return {number, digits, digits[-10:]}


def seeded_phone_numbers(tenant: Tenant) -> set[str]:
    return {
        str(method["phoneNumber"])
        for user in tenant.users()
        for method in tenant.methods(user.id)
        if method.get("phoneNumber")
    }


async def full_runs(queue_host: QueueHost, names: StorageNames, graph: GraphEmulator) -> None:
    """The ways a request can go, each with a phone number and, where allowed, a TAP."""
    common = {"requested_by": "desk@contoso.example"}
    # Synchronous success with a new phone and a TAP.
    ok, _ = await submit(
        {
            **common,
            "user": "alex.wilber@contoso.example",
            "ticket_id": "S1",
            "mode": "sync",
            "new_phone": {"number": NEW_PHONES[0]},
            "temporary_access_pass": {"lifetime_minutes": 60},
        }
    )
    assert ok.status_code == 200, ok.get_body()
    # Asynchronous success after a transient failure, then status reads.
    graph.faults.add(Fault(method="POST", path="phoneMethods", status=503, retry_after="0"))
    accepted, queue = await submit(
        {
            **common,
            "user": "adele.vance@contoso.example",
            "ticket_id": "S2",
            "new_phone": {"number": NEW_PHONES[1], "type": "mobile"},
        }
    )
    await queue_host.send(names.queue, queue.get())
    await queue_host.drain(names.queue, handler("process_reset"))
    done = body_of(await status(body_of(accepted)["id"]))
    assert done["status"] == "succeeded", done
    # Failure: Graph refuses the new phone and the TAP for good.
    graph.faults.add(Fault(method="POST", path="phoneMethods", status=400, times=None))
    graph.faults.add(
        Fault(method="POST", path="temporaryAccessPassMethods", status=500, times=None)
    )
    failed, _ = await submit(
        {
            **common,
            "user": "patti.o'brien@contoso.example",
            "ticket_id": "S3",
            "mode": "sync",
            "new_phone": {"number": NEW_PHONES[2]},
            "temporary_access_pass": {},
        }
    )
    assert failed.status_code == 502, failed.get_body()
    # Asynchronous failure that ends in the poison queue.
    graph.faults.clear()
    graph.faults.add(Fault(method="GET", path="/users/", status=503, retry_after="0", times=None))
    poisoned, queue = await submit(
        {
            **common,
            "user": "$svc.desk@contoso.example",
            "ticket_id": "S4",
            "new_phone": {"number": NEW_PHONES[3], "type": "mobile"},
        }
    )
    await queue_host.send(names.queue, queue.get())
    await queue_host.drain(names.queue, handler("process_reset"))
    await queue_host.drain(names.poison, handler("reset_poisoned"))
    assert body_of(await status(body_of(poisoned)["id"]))["status"] == "failed"
    graph.faults.clear()
    # A dry run and a request refused for a bad field, both carrying a number.
    preview, _ = await submit(
        {
            **common,
            "user": "diego.siciliani@contoso.example",
            "ticket_id": "S5",
            "dry_run": True,
            "new_phone": {"number": NEW_PHONES[0]},
        }
    )
    assert preview.status_code == 200
    bad, _ = await submit(
        {
            **common,
            "user": "diego.siciliani@contoso.example",
            "ticket_id": "S6",
            "new_phone": {"number": NEW_PHONES[1], "type": "pager"},
        }
    )
    assert bad.status_code == 400
    assert NEW_PHONES[1] not in bad.get_body().decode()


async def test_no_secret_reaches_logs_exceptions_or_the_ledger(
    app_env: StorageNames,
    queue_host: QueueHost,
    graph_emulator: GraphEmulator,
    tenant: Tenant,
    azurite: Azurite,
    caplog: pytest.LogCaptureFixture,
):
    seeded = seeded_phone_numbers(tenant)
    caplog.set_level(logging.DEBUG)

    await full_runs(queue_host, app_env, graph_emulator)

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    logged = "\n".join(f"{formatter.format(r)} {r.args!r} {vars(r)!r}" for r in caplog.records)
    async with TableClient.from_connection_string(
        azurite.connection_string, table_name=app_env.table
    ) as client:
        ledger = "\n".join([json.dumps(dict(e), default=str) async for e in client.list_entities()])

    taps = {tap for user in tenant.users() if (tap := tenant.last_tap_value(user.id))}
    tokens = set(graph_emulator.issued_tokens()) | {graph_emulator.identity_header}
    phones = set().union(*(phone_forms(n) for n in seeded | set(NEW_PHONES)))
    # The scan has something to find and somewhere to look.
    assert len(taps) == 1 and tokens and len(seeded) >= 5
    assert logged.count("mfa-reset-audit") >= 6
    assert "Traceback" in logged  # the failure paths logged exceptions with their tracebacks
    assert ledger.count('"Kind": "reset"') == 4  # dry runs and bad requests have no row
    assert "********" in ledger  # numbers appear masked

    for secret in sorted(taps | tokens | phones):
        assert secret not in logged, f"{secret!r} was logged"
        assert secret not in ledger, f"{secret!r} is in the ledger"
