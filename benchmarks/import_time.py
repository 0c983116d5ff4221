"""Cold start: how long importing the app takes, against the imports no Functions app avoids.

Why: the Functions host imports ``function_app`` to index the functions on every cold start, so
what that import pulls in is paid before the first request is answered. The baseline is
``azure.functions`` and ``pydantic``, which any app of this shape imports; the ratio says what the
app adds on top. Each import runs in a fresh subprocess of the same interpreter
(``sys.executable``) from the repository root, timed with ``time.perf_counter()`` inside the
subprocess around the import alone (interpreter start-up is not counted); baseline and app are
interleaved so drifts in machine load fall on both, after one untimed run of each (which also
writes the bytecode caches).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "azure.functions, pydantic"
APP = "function_app"
TARGET_RATIO = 2.0


@dataclass(frozen=True)
class ImportTimes:
    """Seconds per run for one import statement."""

    modules: str
    seconds: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_import(modules: str) -> float:
    """Seconds ``import <modules>`` takes in a fresh interpreter."""
    code = (
        "import time\n"
        "started = time.perf_counter()\n"
        f"import {modules}\n"
        "print(repr(time.perf_counter() - started))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"import {modules} failed:\n{done.stderr}")
    return float(done.stdout.strip().splitlines()[-1])


def measure(runs: int = 7) -> tuple[ImportTimes, ImportTimes]:
    """The baseline's and the app's import times, ``runs`` each, interleaved."""
    time_import(BASELINE)
    time_import(APP)
    baseline: list[float] = []
    app: list[float] = []
    for _ in range(runs):
        baseline.append(time_import(BASELINE))
        app.append(time_import(APP))
    return ImportTimes(BASELINE, tuple(baseline)), ImportTimes(APP, tuple(app))


def render(baseline: ImportTimes, app: ImportTimes) -> tuple[list[list[str]], list[str], str]:
    """Rows, header and the target line for Table 2."""
    ratio = app.median / baseline.median
    rows = [
        [
            label,
            f"import {t.modules}",
            f"{t.median * 1000:.0f}",
            f"{min(t.seconds) * 1000:.0f}-{max(t.seconds) * 1000:.0f}",
            f"{t.median / baseline.median:.2f}x",
        ]
        for label, t in (("baseline", baseline), ("app", app))
    ]
    header = ["what", "statement", "median ms", f"range ms ({len(app.seconds)} runs)", "ratio"]
    verdict = "met" if ratio <= TARGET_RATIO else "NOT MET"
    target = (
        f"Target (from the issue; measured here, not asserted): app import <= "
        f"{TARGET_RATIO:.1f}x the baseline: {ratio:.2f}x -> {verdict}"
    )
    return rows, header, target
