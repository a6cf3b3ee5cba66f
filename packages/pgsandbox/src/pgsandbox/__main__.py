"""``python -m pgsandbox``: prepare, inspect, reap and stop pgsandbox's server and templates.

``prep`` does what the first test run would do (resolve or start the server, build or
reuse the template) and says what it did and how long it took, so CI can pay for it in a
step of its own (``nox -s db-prep``). Settings come from ``[tool.pytest.ini_options]`` in
``pyproject.toml``, the same keys the plugin reads.
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path

from pgsandbox._admin import AdminConnection, connect
from pgsandbox._audit import audit_paths
from pgsandbox._cluster import Cluster
from pgsandbox._controller import reap_leftovers
from pgsandbox._errors import PgsandboxError
from pgsandbox._flake import run_flake
from pgsandbox._naming import advisory_key, new_run_id
from pgsandbox._server import resolve_server, url_from_environment
from pgsandbox._stress import run_stress, stop_on_signals
from pgsandbox._template import (
    SchemaSource,
    drop_template,
    ensure_template,
    list_templates,
    reap_unused_templates,
)

__all__ = ["main"]


def _schema_source(root: Path) -> SchemaSource:
    pyproject = root / "pyproject.toml"
    ini: dict[str, object] = {}
    if pyproject.is_file():
        data = tomllib.loads(pyproject.read_text())
        ini = data.get("tool", {}).get("pytest", {}).get("ini_options", {})
    alembic_ini = str(ini.get("pgsandbox_alembic_ini") or "")
    return SchemaSource(
        rootdir=root,
        alembic_ini=(root / alembic_ini).resolve() if alembic_ini else None,
        schema_callable=str(ini.get("pgsandbox_schema") or "") or None,
        seed_callable=str(ini.get("pgsandbox_seed") or "") or None,
        alembic_config=str(ini.get("pgsandbox_alembic_config") or "") or None,
    )


def _prep(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    source = _schema_source(Path(args.rootdir).resolve())
    server = resolve_server(args.url, url_from_environment(), cli_option="--url")
    print(f"pgsandbox prep: server   {server.describe()}")
    admin = AdminConnection(
        connect(server.url, source=server.source, application_name="pgsandbox/prep")
    )
    try:
        admin.require_createdb(server.source)
        # A run id and run lock of its own, as a test run has: a fixed id would give two
        # concurrent preps one build database, and a reap meanwhile would drop it mid-build.
        run_id = new_run_id()
        admin.lock(advisory_key(f"run:{run_id}"))
        template = ensure_template(
            admin, server.url, source, run_id=run_id, hold=False, rebuild=args.rebuild
        )
    finally:
        admin.close()
    print(
        f"pgsandbox prep: template {template.name} {template.action} in "
        f"{template.seconds:.2f}s from {source.describe()} ({template.inputs} input files)"
    )
    print(f"pgsandbox prep: done in {time.perf_counter() - started:.2f}s")
    return 0


def _stop(_args: argparse.Namespace) -> int:
    cluster = Cluster.default()
    if cluster.stop():
        print(f"pgsandbox: stopped the ephemeral cluster in {cluster.root}")
    else:
        print(f"pgsandbox: no ephemeral cluster running in {cluster.root}")
    return 0


def _status(args: argparse.Namespace) -> int:
    server = resolve_server(args.url, url_from_environment(), cli_option="--url")
    print(f"server: {server.describe()}")
    admin = AdminConnection(
        connect(server.url, source=server.source, application_name="pgsandbox/status")
    )
    try:
        for db in admin.owned_databases():
            print(f"  {db.name:<40} {db.kind:<9} run={db.run_id or '-'}")
    finally:
        admin.close()
    return 0


def _reap(args: argparse.Namespace) -> int:
    server = resolve_server(args.url, url_from_environment(), cli_option="--url")
    admin = AdminConnection(
        connect(server.url, source=server.source, application_name="pgsandbox/reap")
    )
    try:
        dropped = [db.name for db in reap_leftovers(admin)]
        if args.templates:
            dropped += reap_unused_templates(admin)
    finally:
        admin.close()
    print(
        f"pgsandbox: dropped {len(dropped)} leftover database(s) of finished or crashed runs"
        + (" and unused templates" if args.templates else "")
    )
    for name in dropped:
        print(f"  {name}")
    return 0


def _templates(args: argparse.Namespace) -> int:
    server = resolve_server(args.url, url_from_environment(), cli_option="--url")
    admin = AdminConnection(
        connect(server.url, source=server.source, application_name="pgsandbox/templates")
    )
    try:
        if args.drop:
            drop_template(admin, args.drop)
            print(f"pgsandbox: dropped template {args.drop}")
            return 0
        rows = list_templates(admin)
    finally:
        admin.close()
    print(f"pgsandbox: {len(rows)} template(s) on {server.describe()}")
    if rows:
        print(f"  {'name':<30} {'project':<12} {'schema hash':<12} {'age':>8} {'size':>9}  use")
    for row in rows:
        age = _age(row.age_s)
        size = f"{row.size_bytes / 1e6:.1f} MB"
        used = "in use" if row.in_use else "-"
        print(
            f"  {row.name:<30} {row.project:<12} {row.fingerprint:<12} {age:>8} {size:>9}  {used}"
        )
    if rows:
        print("  drop one with: python -m pgsandbox templates --drop NAME")
    return 0


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _audit(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"pgsandbox audit: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    findings = audit_paths(paths)
    for finding in findings:
        print(finding.describe())
    checked = ", ".join(str(p) for p in paths)
    if findings:
        print(f"pgsandbox audit: {len(findings)} finding(s) in {checked}")
        return 1
    print(f"pgsandbox audit: no findings in {checked}")
    return 0


def _stress(args: argparse.Namespace) -> int:
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    extra = [a for a in args.pytest_args if a != "--"]
    if args.load < 0:
        print("pgsandbox stress: --load must be 0 or more", file=sys.stderr)
        return 2
    stop_on_signals()
    return run_stress(counts, extra or ["tests"], args.url, load=args.load)


def _flake(args: argparse.Namespace) -> int:
    if args.runs < 1 or args.load < 0:
        print("pgsandbox flake: --runs must be 1 or more, --load 0 or more", file=sys.stderr)
        return 2
    paths = [a for a in args.paths if a != "--"] or ["tests"]
    stop_on_signals()
    return run_flake(args.runs, paths, load=args.load, workers=args.workers)


def main(argv: list[str] | None = None) -> int:
    """Run the ``python -m pgsandbox`` command line."""
    parser = argparse.ArgumentParser(prog="python -m pgsandbox", description=__doc__)
    parser.add_argument(
        "--url", help="server URL (default: $PGSANDBOX_URL, else the ephemeral cluster)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prep", help="start or find the server, build or reuse the template")
    prep.add_argument("--rootdir", default=".", help="folder holding pyproject.toml")
    prep.add_argument(
        "--rebuild", action="store_true", help="drop the current template and build it anew"
    )
    prep.set_defaults(func=_prep)
    sub.add_parser("stop", help="stop the ephemeral cluster").set_defaults(func=_stop)
    sub.add_parser("status", help="list pgsandbox's databases").set_defaults(func=_status)
    reap = sub.add_parser("reap", help="drop databases of runs that are no longer alive")
    reap.add_argument(
        "--templates",
        action="store_true",
        help="also drop every template cache no running run is using",
    )
    reap.set_defaults(func=_reap)
    templates = sub.add_parser(
        "templates", help="list this server's template caches (project, hash, age, size)"
    )
    templates.add_argument("--drop", metavar="NAME", help="drop one template pgsandbox built")
    templates.set_defaults(func=_templates)
    audit = sub.add_parser("audit", help="static check of a test suite for parallel pitfalls")
    audit.add_argument("paths", nargs="*", default=["tests"], help="files or folders")
    audit.set_defaults(func=_audit)
    stress = sub.add_parser(
        "stress", help="run a suite at several worker counts, watching connections"
    )
    stress.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    stress.add_argument("--load", type=int, default=0, help="CPU-burning processes alongside")
    stress.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="arguments for pytest (after --)"
    )
    stress.set_defaults(func=_stress)
    flake = sub.add_parser(
        "flake", help="run suites N times in random order (optionally under CPU load)"
    )
    flake.add_argument("--runs", type=int, default=5, help="how many runs (default 5)")
    flake.add_argument("--load", type=int, default=0, help="CPU-burning processes alongside")
    flake.add_argument("--workers", type=int, default=4, help="xdist workers (default 4)")
    flake.add_argument("paths", nargs="*", help="test paths (default: tests)")
    flake.set_defaults(func=_flake)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PgsandboxError as exc:
        print(str(exc), file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
