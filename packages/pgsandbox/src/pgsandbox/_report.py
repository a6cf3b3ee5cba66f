"""The distribution report: JSON, the per-worker table, the verdict, and an HTML timeline.

Pure functions of the recorded tests and canaries, so they can be tested and reused
without pytest. ``--pgsandbox-report`` writes the JSON and an HTML page beside it;
``--pgsandbox-verify`` fails the run with :func:`verify`'s explanations.
"""

from __future__ import annotations

import html
import json
import math
import time
from typing import TYPE_CHECKING, Any

from pgsandbox._distribution import worker_order

if TYPE_CHECKING:
    from pathlib import Path

    from pgsandbox._canary import CanaryResult
    from pgsandbox._distribution import DistributionRecorder

__all__ = ["build_report", "render_html", "table_lines", "verify", "write_report"]

REPORT_VERSION = 1


def build_report(
    recorder: DistributionRecorder,
    canaries: list[CanaryResult],
    *,
    run_id: str,
    workers: list[str],
) -> dict[str, Any]:
    """Assemble the JSON report of one run."""
    records = sorted(recorder.records.values(), key=lambda r: (r.start, r.nodeid))
    per_worker = recorder.per_worker()
    for worker in workers:
        per_worker.setdefault(worker, {"tests": 0, "db_tests": 0, "busy_s": 0.0, "duration_s": 0.0})
    per_worker = dict(sorted(per_worker.items(), key=lambda kv: worker_order(kv[0])))
    outcomes: dict[str, int] = {}
    for record in records:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
    return {
        "version": REPORT_VERSION,
        "run_id": run_id,
        "created": time.time(),
        "workers": sorted(workers, key=worker_order),
        "totals": {
            "tests": len(records),
            "db_tests": sum(r.uses_database for r in records),
            "outcomes": outcomes,
            "loop_errors": sum(len(r.loop_errors) for r in records),
            "duration_s": round(sum(r.duration for r in records), 6),
            "busy_s": round(sum(r.busy for r in records), 6),
            "wall_s": round(
                (
                    max((r.stop for r in records), default=0.0)
                    - min((r.start for r in records), default=0.0)
                ),
                6,
            ),
        },
        "per_worker": {
            worker: {key: round(value, 6) for key, value in row.items()}
            for worker, row in per_worker.items()
        },
        "canaries": [
            {
                "database": c.database,
                "survived": c.survived,
                "checked": c.checked,
                "detail": c.detail,
            }
            for c in canaries
        ],
        "tests": [record.to_json() for record in records],
    }


def verify(report: dict[str, Any]) -> list[str]:
    """Return the reasons the run is not a trustworthy parallel run (empty when it is)."""
    problems: list[str] = []
    tests = report["tests"]
    bad = [t for t in tests if t["outcome"] in {"failed", "error"}]
    if bad:
        names = ", ".join(t["nodeid"] for t in bad[:5]) + (" ..." if len(bad) > 5 else "")
        problems.append(f"{len(bad)} test(s) failed or errored: {names}")
    silent = [t for t in tests if t["outcome"] == "skipped" and not t["skip_reason"]]
    if silent:
        names = ", ".join(t["nodeid"] for t in silent[:5])
        problems.append(f"{len(silent)} test(s) skipped without a reason: {names}")
    workers = report["workers"] or ["main"]
    db_tests = report["totals"]["db_tests"]
    per_worker = {w: int(row["db_tests"]) for w, row in report["per_worker"].items()}
    counts = ", ".join(f"{count} {worker}" for worker, count in per_worker.items())
    if db_tests:
        used = sum(1 for count in per_worker.values() if count)
        needed = min(len(workers), db_tests)
        if used < needed:
            problems.append(
                f"clustering detected: database tests ran on {used} of {len(workers)} workers "
                f"(need at least {needed}); database tests per worker: {counts}. Look for "
                "xdist_group marks or --dist loadgroup/loadfile that pin them to one worker."
            )
        # A worker that ran many quick tests while others ran a few slow ones is load
        # balancing, not clustering: flag a worker only when both its share of the
        # database tests and its share of their busy time pass twice the fair share.
        fair = db_tests / len(workers)
        limit = max(1, math.ceil(2 * fair))
        db_busy = {w: float(row.get("db_busy_s", 0.0)) for w, row in report["per_worker"].items()}
        fair_busy = sum(db_busy.values()) / len(workers)
        heavy = {w: c for w, c in per_worker.items() if c > limit and db_busy[w] > 2 * fair_busy}
        if heavy and len(workers) > 1:
            problems.append(
                "clustering detected: "
                + ", ".join(
                    f"{w} ran {c} database tests for {db_busy[w]:.1f}s" for w, c in heavy.items()
                )
                + f", more than twice the fair share ({fair:.1f} tests, {fair_busy:.1f}s); "
                f"database tests per worker: {counts}."
            )
    loop_errors = [(t["nodeid"], e) for t in tests for e in t["loop_errors"]]
    if loop_errors:
        listed = "; ".join(f"{node}: {err}" for node, err in loop_errors[:5])
        problems.append(
            f"{len(loop_errors)} event-loop error(s): {listed}. See docs/troubleshooting.md."
        )
    canaries = report["canaries"]
    dead = [c for c in canaries if c.get("checked", True) and not c["survived"]]
    unchecked = [c for c in canaries if not c.get("checked", True)]
    if dead:
        problems.append(
            "database was rebuilt or truncated during the run: "
            + ", ".join(f"{c['database']} ({c['detail']})" for c in dead)
        )
    if unchecked:
        problems.append(
            f"{len(unchecked)} canary(ies) could not be read (the server was gone or full), "
            "so the run cannot prove its databases were left alone"
        )
    elif not canaries:
        problems.append("no canary was checked: pgsandbox prepared no database in this run")
    return problems


def table_lines(report: dict[str, Any]) -> list[str]:
    """The per-worker table printed at the end of the run."""
    totals = report["totals"]
    heading = (
        f"distribution: {len(report['workers'])} worker(s), {totals['tests']} tests, "
        f"{totals['db_tests']} database tests, wall {totals['wall_s']:.1f}s"
    )
    lines = [heading, f"  {'tests':>5} {'db':>5} {'busy s':>8}  worker"]
    for worker, row in report["per_worker"].items():
        lines.append(
            f"  {int(row['tests']):>5} {int(row['db_tests']):>5} {row['busy_s']:>8.2f}  {worker}"
        )
    return lines


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write the JSON report and the HTML timeline beside it; return the HTML's path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    page = path.with_suffix(".html")
    page.write_text(render_html(report))
    return page


_COLOURS = {
    "passed": "#2e9d4f",
    "failed": "#d62728",
    "error": "#8c1c13",
    "skipped": "#9e9e9e",
    "xfailed": "#e0a100",
}


def render_html(report: dict[str, Any]) -> str:
    """A self-contained page: one lane per worker, one bar per test from start to stop."""
    tests = report["tests"]
    workers = report["workers"] or sorted({t["worker"] for t in tests}, key=worker_order)
    lane_h, label_w, width, top = 28, 70, 1100, 40
    t0 = min((t["start"] for t in tests), default=0.0)
    t1 = max((t["stop"] for t in tests), default=t0 + 1.0)
    span = max(t1 - t0, 1e-6)
    scale = (width - label_w - 10) / span
    height = top + lane_h * len(workers) + 30
    svg_open = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">'
    )
    parts = [svg_open]
    for tick in range(11):
        x = label_w + (width - label_w - 10) * tick / 10
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 5}" x2="{x:.1f}" y2="{height - 25}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle">{span * tick / 10:.1f}s</text>'
        )
    for lane, worker in enumerate(workers):
        y = top + lane * lane_h
        parts.append(
            f'<text x="5" y="{y + lane_h / 2 + 4:.1f}" class="lane">{html.escape(worker)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y}" width="{width - label_w - 10}" '
            f'height="{lane_h - 4}" fill="#f4f4f4"/>'
        )
        for test in (t for t in tests if t["worker"] == worker):
            x = label_w + (test["start"] - t0) * scale
            w = max((test["stop"] - test["start"]) * scale, 1.0)
            colour = _COLOURS.get(test["outcome"], "#555")
            opacity = "1" if test["uses_database"] else "0.4"
            title = html.escape(
                f"{test['nodeid']} [{test['outcome']}] {test['duration']:.3f}s "
                f"{'db:' + str(test['isolation']) if test['uses_database'] else 'no db'}"
            )
            parts.append(
                f'<rect class="test" x="{x:.2f}" y="{y + 2}" width="{w:.2f}" '
                f'height="{lane_h - 8}" fill="{colour}" fill-opacity="{opacity}" '
                f'stroke="#fff" stroke-width="0.5"><title>{title}</title></rect>'
            )
    parts.append("</svg>")
    legend = " ".join(
        f'<span style="background:{c};color:#fff;padding:2px 6px">{name}</span>'
        for name, c in _COLOURS.items()
    )
    rows = "".join(
        f"<tr><td>{html.escape(w)}</td><td>{int(r['tests'])}</td><td>{int(r['db_tests'])}</td>"
        f"<td>{r['busy_s']:.2f}</td></tr>"
        for w, r in report["per_worker"].items()
    )
    totals = report["totals"]
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>pgsandbox distribution {html.escape(report['run_id'])}</title>"
        "<style>body{font-family:sans-serif;margin:20px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}</style></head><body>"
        f"<h1>Test distribution, run {html.escape(report['run_id'])}</h1>"
        f"<p>{totals['tests']} tests ({totals['db_tests']} database tests) on "
        f"{len(workers)} worker(s), wall {totals['wall_s']:.1f}s. Bars: one test from start "
        f"to stop; solid = database test, faded = no database.</p><p>{legend}</p>"
        + "".join(parts)
        + "<h2>Per worker</h2><table><tr><th>worker</th><th>tests</th><th>db tests</th>"
        f"<th>busy s</th></tr>{rows}</table></body></html>\n"
    )
