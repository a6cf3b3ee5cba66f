"""Present a benchmark report: the stdout table, the SVG chart, and docs/benchmarks.md.

``python -m benchmarks.report [.reports/bench.json]`` prints the table of a saved report
again; ``--docs`` also refreshes docs/benchmarks.md and its chart from it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from html import escape
from pathlib import Path
from typing import Any

from benchmarks.realistic import render_realistic

__all__ = ["markdown_table", "render_table", "update_docs", "write_svg"]

_DOCS_START = "<!-- bench:results:start -->"
_DOCS_END = "<!-- bench:results:end -->"


def _fmt(value: object, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rows(report: dict[str, Any], results: dict[str, Any]) -> list[list[str]]:
    rows = []
    for key, summary in results.items():
        cells = summary["workers"]
        first = next(iter(cells.values()))
        rows.append(
            [
                summary["label"],
                *(_fmt(cells.get(n, {}).get("wall_s")) for n in ("0", "2", "4")),
                _fmt(first.get("per_test_overhead_ms")),
                _fmt(first.get("work_only_ms")),
                _fmt(first.get("setup_s")),
                _fmt(summary.get("setup_template_build_s")),
                _fmt(max((c.get("peak_rss_mb_per_worker") or 0) for c in cells.values()), 0),
                _fmt(summary.get("break_even_tests_n2_vs_n0"), 0),
                _load_range(cells),
                key,
            ]
        )
    return rows


_HEAD = [
    "strategy",
    "wall -n0 s",
    "wall -n2 s",
    "wall -n4 s",
    "overhead ms/test",
    "work ms",
    "setup s",
    "tpl build s",
    "RSS/worker MB",
    "break-even N",
    "load 1m",
]


def _load_range(cells: dict[str, Any]) -> str:
    """Lowest load average before and highest after the strategy's runs: ``1.8-2.4``."""
    before = [v for c in cells.values() for v in c.get("load_before") or [] if v is not None]
    after = [v for c in cells.values() for v in c.get("load_after") or [] if v is not None]
    if not before or not after:
        return "-"
    return f"{min(before):.1f}-{max(after):.1f}"


def render_table(report: dict[str, Any]) -> list[str]:
    """The table printed on stdout: strategies, then ratios, targets and extra figures."""
    lines: list[str] = []
    for server, data in report.get("servers", {}).items():
        rows = [row[:-1] for row in _rows(report, data["strategies"])]
        widths = [max(len(r[i]) for r in [_HEAD, *rows]) for i in range(len(_HEAD))]
        lines.append(
            f"{server}: {report['machine']['servers'][server]['description']}, "
            f"{report['tests']} tests, median of "
            f"{report['repeat'] if server == report.get('server') else report['disk_repeat']}"
            " run(s)"
        )
        for row in [_HEAD, *rows]:
            lines.append(
                "  "
                + "  ".join(
                    cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
                    for i, cell in enumerate(row)
                )
            )
        lines.append("")
    lines.append("ratios (same run):")
    for server, ratios in report.get("ratios_by_server", {}).items():
        for key, value in ratios.items():
            lines.append(f"  {server:<10} {key:<44} {_fmt(value)}")
    lines.append("")
    lines.append("clones (CREATE DATABASE ... TEMPLATE / DROP DATABASE, median ms):")
    for server, strategies in report.get("clones", {}).items():
        for strategy, times in strategies.items():
            lines.append(
                f"  {server:<10} {strategy:<10} create {_fmt(times['create_ms'])}  "
                f"drop {_fmt(times['drop_ms'])}"
            )
    template = report.get("template")
    if template:
        lines.append(
            f"template (glossator migrations): build {template['build_s']} s, cache hit "
            f"{template['cache_hit_s']} s, bare alembic upgrade head "
            f"{template['alembic_upgrade_s']} s -> hit is {template['hit_speedup_over_upgrade']}x "
            "faster than upgrading"
        )
    queue = report.get("queue")
    if queue:
        figures = ", ".join(f"{k} {v}" for k, v in queue.items() if k != "seconds")
        lines.append(f"export queue: {figures}")
    lines.append("")
    lines.append("targets:")
    for target in report.get("targets", []):
        verdict = {True: "holds", False: "MISSED", None: "n/a"}[target["holds"]]
        lines.append(
            f"  [{verdict:>6}] {target['target']}: {_fmt(target['value'])} (goal {target['goal']})"
        )
    return lines


def markdown_table(report: dict[str, Any]) -> list[str]:
    """The strategy tables as Markdown, one per server, for docs/benchmarks.md."""
    lines: list[str] = []
    for server, data in report.get("servers", {}).items():
        lines.append(f"**{server}** ({report['machine']['servers'][server]['description']}):")
        lines.append("")
        lines.append("| " + " | ".join(_HEAD) + " |")
        lines.append("|" + "---|" * len(_HEAD))
        lines.extend(
            "| " + " | ".join(row[:-1]) + " |" for row in _rows(report, data["strategies"])
        )
        lines.append("")
    return lines


# ---------------------------------------------------------------------- chart
_COLOURS = {"0": "#4c72b0", "2": "#55a868", "4": "#c44e52"}


def write_svg(report: dict[str, Any], path: Path) -> Path:
    """Two horizontal bar charts: per-test overhead (-n 0) and wall time per worker count."""
    results = report["strategies"]
    labels = [summary["label"] for summary in results.values()]
    overheads = [
        max(0.0, summary["workers"].get("0", {}).get("per_test_overhead_ms") or 0.0)
        for summary in results.values()
    ]
    walls = {
        n: [summary["workers"].get(n, {}).get("wall_s") or 0.0 for summary in results.values()]
        for n in ("0", "2", "4")
    }
    label_w, bar_w, row_h, top = 300, 330, 34, 72
    width = label_w + 2 * (bar_w + 60)
    height = top + row_h * len(labels) + 40
    max_over = max(overheads) or 1.0
    max_wall = max((v for values in walls.values() for v in values), default=1.0) or 1.0
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'font-family="sans-serif" font-size="12">'
        ),
        f'<rect width="{width}" height="{height}" fill="white"/>',
        # Each chart's title on one line and its explanation on the next, both within the
        # chart's own column (bar_w wide): long titles ran into the next chart's.
        (
            f'<text x="{label_w}" y="20" font-size="14" font-weight="bold">'
            "per-test overhead, ms (-n 0)</text>"
        ),
        (
            f'<text x="{label_w}" y="37" font-size="11" fill="#555">'
            "median test time minus the work alone</text>"
        ),
        (
            f'<text x="{label_w + bar_w + 60}" y="20" font-size="14" font-weight="bold">'
            f"wall time, s ({report['tests']} tests)</text>"
        ),
    ]
    for i, n in enumerate(("0", "2", "4")):
        x = label_w + bar_w + 60 + i * 70
        parts.append(f'<rect x="{x}" y="29" width="10" height="10" fill="{_COLOURS[n]}"/>')
        parts.append(f'<text x="{x + 14}" y="38">-n {n}</text>')
    for row, label in enumerate(labels):
        y = top + row * row_h
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 18}" text-anchor="end">{escape(label)}</text>'
        )
        length = overheads[row] / max_over * bar_w
        parts.append(
            f'<rect x="{label_w}" y="{y + 6}" width="{length:.1f}" height="18" fill="#8172b2"/>'
        )
        parts.append(
            f'<text x="{label_w + length + 4:.1f}" y="{y + 19}">{overheads[row]:.1f}</text>'
        )
        for i, n in enumerate(("0", "2", "4")):
            wall = walls[n][row]
            length = wall / max_wall * bar_w
            x0 = label_w + bar_w + 60
            parts.append(
                f'<rect x="{x0}" y="{y + 3 + i * 9}" width="{length:.1f}" height="8" '
                f'fill="{_COLOURS[n]}"/>'
            )
            parts.append(
                f'<text x="{x0 + length + 3:.1f}" y="{y + 10 + i * 9}" font-size="9">'
                f"{wall:.1f}</text>"
            )
    parts.append("</svg>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts) + "\n")
    return path


# ---------------------------------------------------------------------- docs
def update_docs(report: dict[str, Any], doc: Path, svg: Path) -> None:
    """Replace the results section of docs/benchmarks.md and copy the chart beside it."""
    shutil.copy(svg, doc.with_suffix(".svg"))
    text = doc.read_text()
    start, end = text.index(_DOCS_START) + len(_DOCS_START), text.index(_DOCS_END)
    machine = report["machine"]
    body = [
        "",
        (
            f"Run `{report['run_id']}`: {report['tests']} tests per suite, median of "
            f"{report['repeat']} runs, {machine['cores']} cores, load average at start "
            f"{', '.join(f'{x:.1f}' for x in machine['load_average_at_start'])}."
        ),
        "",
        *markdown_table(report),
        *([*render_realistic(report["realistic"]), ""] if report.get("realistic") else []),
        "Ratios and targets (from the same run):",
        "",
        "```",
        *_ratio_and_target_lines(report),
        "```",
        "",
        f"![per-test overhead and wall time per strategy]({doc.with_suffix('.svg').name})",
        "",
    ]
    doc.write_text(text[:start] + "\n".join(body) + text[end:])


def _ratio_and_target_lines(report: dict[str, Any]) -> list[str]:
    lines = render_table(report)
    index = lines.index("ratios (same run):")
    return lines[index:]


def main(argv: list[str] | None = None) -> int:
    """Print the table of a saved report; with ``--docs`` refresh the docs from it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report")
    parser.add_argument("report", nargs="?", default=".reports/bench.json")
    parser.add_argument("--docs", action="store_true", help="refresh docs/benchmarks.md")
    args = parser.parse_args(argv)
    path = Path(args.report)
    report = json.loads(path.read_text())
    for line in render_table(report):
        sys.stdout.write(line + "\n")
    if args.docs:
        svg = write_svg(report, path.with_suffix(".svg"))
        update_docs(report, Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md", svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
