"""Regenerate (or check) the test fixtures: ``python -m glossator.importers._regen``.

``nox -s regen-fixtures`` runs this module from the repository root:

* without arguments it rebuilds every output in ``fixtures/generated`` from
  ``fixtures/sources`` (rules in :mod:`glossator.importers._manifest`), removes outputs no
  source makes any more, and rewrites ``fixtures/manifest.json``. It needs LibreOffice
  and refuses to start without it.
* with ``--check`` it needs no LibreOffice: it only hashes the files and exits 1, listing
  each stale file, when a source changed since the last regeneration, an output was
  edited by hand, an output is missing, or one has no source.

Outputs are byte-identical from run to run: LibreOffice runs with ``TZ=UTC`` and
``LC_ALL=C.UTF-8`` and its volatile metadata is stripped
(:func:`glossator.importers.rtf.strip_volatile_metadata`); gzip files carry mtime 0 and
no file name; the generator script and the conversation renderer are deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.metadata
import os
import platform
import sys
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Final

from glossator.importers._manifest import (
    GENERATED,
    MANIFEST,
    ManifestEntry,
    check_fixtures,
    load_manifest,
    manifest_text,
    plan_jobs,
    report_problems,
    sha256_of,
)
from glossator.importers.conversations import parse_export, render_export_html
from glossator.importers.errors import ConverterMissing
from glossator.importers.rtf import (
    INSTALL_HINT,
    RtfOptions,
    convert_rtf_to_html,
    find_soffice,
    libreoffice_version,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from glossator.importers._manifest import FixtureJob

__all__ = ["main", "regenerate"]

_FIXED_ENV: Final = {"TZ": "UTC", "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
# The long judgment takes a few seconds; a stuck LibreOffice should not hang the session.
_RTF_OPTIONS: Final = RtfOptions(timeout=300.0)


def _say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _gzip(data: bytes) -> bytes:
    # mtime=0 and no file name in the header: the bytes depend on the content only.
    return gzip.compress(data, compresslevel=9, mtime=0)


def _package_version(name: str) -> str:
    return importlib.metadata.version(name)


class _Toolbox:
    """Tool versions, looked up once, recorded per output in the manifest."""

    def __init__(self, libreoffice: str) -> None:
        self.libreoffice = libreoffice
        self.python = ".".join(platform.python_version_tuple()[:2])

    def for_job(self, job: FixtureJob) -> dict[str, str]:
        tools = {}
        if job.kind == "rtf":
            tools["libreoffice"] = self.libreoffice
        elif job.kind == "conversation":
            tools["markdown-it-py"] = _package_version("markdown-it-py")
            tools["nh3"] = _package_version("nh3")
        else:
            tools["python"] = self.python
        if job.output.endswith(".gz"):
            tools["zlib"] = zlib.ZLIB_RUNTIME_VERSION
        return tools


def _command(job: FixtureJob) -> str:
    if job.kind == "script":
        return f"python {job.source} | gzip (mtime 0)"
    if job.kind == "rtf":
        gunzip = "gunzip, " if job.source.endswith(".gz") else ""
        gzip_note = ", gzip (mtime 0)" if job.output.endswith(".gz") else ""
        return (
            f"{gunzip}soffice --headless --convert-to 'html:HTML (StarWriter)' "
            f"(glossator.importers.rtf.convert_rtf_to_html), volatile meta stripped{gzip_note}"
        )
    return (
        "glossator.importers.conversations.render_export_html(parse_export(source)), gzip (mtime 0)"
    )


async def _make(root: Path, job: FixtureJob) -> bytes:
    source = root / job.source
    if job.kind == "script":
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-I", "-B", str(source)),
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **_FIXED_ENV},
        )
        stdout, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{job.source} failed with status {process.returncode}")
        return _gzip(stdout)
    data = source.read_bytes()
    if job.kind == "rtf":
        rtf = gzip.decompress(data) if job.source.endswith(".gz") else data
        html = (await convert_rtf_to_html(rtf, _RTF_OPTIONS)).encode("utf-8")
        return _gzip(html) if job.output.endswith(".gz") else html
    return _gzip(render_export_html(parse_export(data)).encode("utf-8"))


async def regenerate(root: Path) -> int:
    """Rebuild every fixture under ``root`` and rewrite the manifest.

    Returns:
        The process exit status (0 on success).
    """
    try:
        find_soffice()
    except ConverterMissing:
        _say(
            "regen-fixtures: LibreOffice (soffice) is not installed, and RTF fixtures are "
            f"made with it. Install it ({INSTALL_HINT}) and run again. "
            "Checking needs no LibreOffice: nox -s regen-fixtures -- --check"
        )
        return 2
    started = time.perf_counter()
    jobs = plan_jobs(root)
    toolbox = _Toolbox(await libreoffice_version())
    _say(f"regen-fixtures: {len(jobs)} outputs with {toolbox.libreoffice}")
    try:
        old_entries = load_manifest(root)
    except ValueError:
        old_entries = {}  # regeneration is the fix for a malformed manifest: rewrite it
    entries: dict[str, ManifestEntry] = {}
    for number, job in enumerate(jobs, start=1):
        job_started = time.perf_counter()
        content = await _make(root, job)
        output = root / job.output
        output.parent.mkdir(parents=True, exist_ok=True)
        changed = not output.is_file() or output.read_bytes() != content
        if changed:
            output.write_bytes(content)
        entries[job.output] = ManifestEntry(
            source=job.source,
            source_sha256=sha256_of(root / job.source),
            output_sha256=sha256_of(output),
            command=_command(job),
            tools=toolbox.for_job(job),
        )
        _say(
            f"  [{number:>2}/{len(jobs)}] {time.perf_counter() - job_started:6.2f} s "
            f"{len(content):>9,} B  {'written  ' if changed else 'unchanged'}  {job.output}"
        )
    planned = {job.output for job in jobs}
    for path in sorted((root / GENERATED).rglob("*")):
        if path.is_file() and path.relative_to(root).as_posix() not in planned:
            path.unlink()
            _say(f"  removed {path.relative_to(root).as_posix()} (no source makes it)")
    text = manifest_text(entries)
    manifest = root / MANIFEST
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != text:
        manifest.write_text(text, encoding="utf-8")
    changed_entries = sum(1 for key, entry in entries.items() if old_entries.get(key) != entry)
    _say(
        f"regen-fixtures: done in {time.perf_counter() - started:.1f} s; "
        f"{changed_entries} manifest entr{'y' if changed_entries == 1 else 'ies'} changed"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``[--check] [--root PATH]``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m glossator.importers._regen",
        description="Regenerate the test fixtures, or check that they are current.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only compare sources and outputs with the manifest (needs no LibreOffice)",
    )
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="repository root (default: .)"
    )
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    if not (root / "fixtures" / "sources").is_dir():
        _say(f"regen-fixtures: {root} has no fixtures/sources; run it from the repository root")
        return 2
    if args.check:
        problems = check_fixtures(root)
        if problems:
            _say(report_problems(problems))
            return 1
        _say(f"regen-fixtures: {len(load_manifest(root))} fixtures match {MANIFEST}")
        return 0
    # Every program this runs gets TZ=UTC and LC_ALL=C.UTF-8 in its own environment
    # (the in-process renderer depends on neither), so this process's stays untouched.
    return asyncio.run(regenerate(root))


if __name__ == "__main__":
    sys.exit(main())
