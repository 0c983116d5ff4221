"""The benchmark measures real resets: a smoke run of ``benchmarks`` (no latency, one run, k=2).

Nothing here is about speed (timings are never asserted); it checks that what the tables report
comes from resets that happened: both paths leave the user with only the password, the counts
come from the emulator's log and the table proxy, and the app needs no more round trips than the
one-call-at-a-time reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks import admission, import_time, report, reset_speed
from benchmarks.reference import PASSWORD_ODATA_TYPE
from tests.support.app import handler

if TYPE_CHECKING:
    from emulator.azurite import Azurite


async def test_both_paths_really_reset_and_are_counted(azurite: Azurite):
    rows = await reset_speed.measure(
        [2], repeat=1, latency=0.0, storage=azurite, submit=handler("submit_reset")
    )

    cells = {(r.named_by, r.path): r for r in rows}
    assert set(cells) == {(by, path) for by in reset_speed.NAMED_BY for path in reset_speed.PATHS}
    for (by, path), row in cells.items():
        assert row.k == 2
        assert len(row.runs) == 1
        run = row.runs[0]
        assert run.remaining == (PASSWORD_ODATA_TYPE,), (by, path)
        assert isinstance(run.round_trips, int)
        assert run.round_trips > 0, (by, path)
        assert run.seconds > 0
    for by in reset_speed.NAMED_BY:
        app, reference = cells[(by, "app")].runs[0], cells[(by, "reference")].runs[0]
        assert isinstance(app.ledger_writes, int)
        assert app.ledger_writes > 0, by
        # Counted on the wire: the writes are among the table requests the proxy carried.
        assert len(app.ledger_requests) >= app.ledger_writes
        # The reference keeps no ledger: every write counted belongs to the app.
        assert reference.ledger_writes == 0
        assert reference.batch_sizes == ()
        assert app.round_trips <= reference.round_trips, by

    table = report.render(rows, "upn")
    assert table.splitlines()[0].split() == [
        "k",
        "path",
        "Graph",
        "round",
        "trips",
        "ledger",
        "writes",
        "seconds",
        "speedup",
    ]
    assert "Targets" in report.targets(rows)


def test_import_times_come_from_subprocesses():
    baseline, app = import_time.measure(runs=1)

    assert baseline.modules == import_time.BASELINE
    assert app.modules == import_time.APP
    assert len(baseline.seconds) == len(app.seconds) == 1
    assert all(s > 0 for s in (*baseline.seconds, *app.seconds))
    rows, header, target = import_time.render(baseline, app)
    assert [row[0] for row in rows] == ["baseline", "app"]
    assert len(header) == len(rows[0])
    assert "Target" in target


async def test_admission_and_sweep_costs_come_from_real_admissions(azurite: Azurite):
    costs = await admission.admission_costs(azurite, marks=(5, 10), sample=3)
    assert [c.in_window for c in costs] == [5, 10]
    assert all(c.ms_per_admission > 0 for c in costs)

    sweep = await admission.sweep_cost(azurite, members=12)
    # Every member was admitted (the limits are far away), none twice.
    assert (sweep.members, sweep.queued) == (12, 12)
    assert sweep.seconds > 0
