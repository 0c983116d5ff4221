"""The tables ``python -m benchmarks`` prints, and the issue's targets beside the measurements.

Why apart from the measuring: what a number means (a median, a spread of round trips, a speedup)
is decided once here, and the targets are printed as targets, never asserted; the build does
not pass or fail on a timing.
"""

from __future__ import annotations

import statistics

from benchmarks.reset_speed import NAMED_BY, Row


def table(rows: list[list[str]], header: list[str]) -> str:
    """Aligned plain-text columns, as ``scripts/demo.py`` prints them."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def _spread(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{statistics.median_low(values)} ({low}-{high})"


def speedup(rows: list[Row], k: int, named_by: str) -> float:
    cell = {r.path: r for r in rows if r.k == k and r.named_by == named_by}
    return cell["reference"].seconds / cell["app"].seconds


def render(rows: list[Row], named_by: str) -> str:
    """Table 1 for one way of naming the user: k, path, round trips, writes, seconds, speedup."""
    lines = []
    for r in (r for r in rows if r.named_by == named_by):
        ratio = f"{speedup(rows, r.k, named_by):.2f}x" if r.path == "app" else ""
        lines.append(
            [
                str(r.k),
                r.path,
                _spread([x.round_trips for x in r.runs]),
                _spread([x.ledger_writes for x in r.runs]),
                f"{r.seconds:.3f}",
                ratio,
            ]
        )
    header = ["k", "path", "Graph round trips", "ledger writes", "seconds", "speedup"]
    return table(lines, header)


def targets(rows: list[Row]) -> str:
    """The issue's targets next to what was measured (a report, not a verdict on the build)."""

    def mark(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    out = ["Targets (from the issue; measured here, not asserted):"]
    for by, limit in (("upn", 5), ("object id", 4)):
        app = [r for r in rows if r.path == "app" and r.named_by == by]
        if app:
            worst = max(x.round_trips for r in app for x in r.runs)
            out.append(
                f"  app round trips by {by} <= {limit} whatever k: "
                f"at most {worst} measured -> {mark(worst <= limit)}"
            )
    for by in NAMED_BY:
        if any(r.k == 8 and r.named_by == by for r in rows):
            ratio = speedup(rows, 8, by)
            out.append(
                f"  app >= 2.5x faster than the reference at k=8 (by {by}): "
                f"{ratio:.2f}x -> {mark(ratio >= 2.5)}"
            )
    for by in NAMED_BY:
        app = [r for r in rows if r.path == "app" and r.named_by == by]
        if len(app) > 1:
            # Written per round (admission, each round of changes, the end), not per step: the
            # count must not grow with the number of methods.
            by_k = {r.k: _spread([x.ledger_writes for x in r.runs]) for r in app}
            flat = len({x.ledger_writes for r in app for x in r.runs}) == 1
            shown = ", ".join(f"k={k}: {n}" for k, n in sorted(by_k.items()))
            out.append(
                f"  ledger writes per round, not per step (by {by}; the same for every k): "
                f"{shown} -> {mark(flat)}"
            )
    return "\n".join(out)
