"""The fixture plan and manifest: which source makes which output, and are they current.

Pure Python, no LibreOffice: ``--check`` (:func:`check_fixtures`) only hashes files and
compares them with ``fixtures/manifest.json``. Regeneration itself is in
:mod:`glossator.importers._regen`.

The rules that map sources to outputs (paths relative to the repository root):

==========================================  ==================================================
``fixtures/sources/rtf/NAME.rtf``           ``fixtures/generated/rtf/NAME.html`` (LibreOffice)
``fixtures/sources/make_NAME.py``           ``fixtures/generated/rtf/NAME.rtf.gz`` (its stdout)
``fixtures/generated/rtf/NAME.rtf.gz``      ``fixtures/generated/rtf/NAME.html.gz`` (LibreOffice)
``fixtures/sources/conversations/NAME.json`` ``fixtures/generated/conversations/NAME.html.gz``
==========================================  ==================================================
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "MANIFEST",
    "FixtureJob",
    "JobKind",
    "ManifestEntry",
    "check_fixtures",
    "load_manifest",
    "manifest_text",
    "plan_jobs",
    "report_problems",
    "sha256_of",
]

MANIFEST: Final = "fixtures/manifest.json"
SOURCES: Final = "fixtures/sources"
GENERATED: Final = "fixtures/generated"
_HEADER: Final = (
    "Written by `nox -s regen-fixtures`; do not edit. "
    "`nox -s regen-fixtures -- --check` compares it with the files."
)
_REGENERATE: Final = "run `nox -s regen-fixtures` (needs LibreOffice) and commit the result"

JobKind = Literal["script", "rtf", "conversation"]


@dataclasses.dataclass(frozen=True, slots=True)
class FixtureJob:
    """One output to make from one source (paths relative to the repository root)."""

    kind: JobKind
    source: str
    output: str


@dataclasses.dataclass(frozen=True, slots=True)
class ManifestEntry:
    """What the manifest records about one output."""

    source: str
    source_sha256: str
    output_sha256: str
    command: str
    tools: dict[str, str]


def plan_jobs(root: Path) -> list[FixtureJob]:
    """Every output the sources call for, in an order that makes sources before use.

    Raises:
        ValueError: A file in ``fixtures/sources`` matches no rule (the message names it).
    """
    sources = root / SOURCES
    jobs: list[FixtureJob] = []
    unknown: list[str] = []
    for path in sorted(p for p in sources.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        folder = path.parent.relative_to(sources).as_posix()
        if "__pycache__" in path.parts:
            continue
        if folder == "." and path.suffix == ".py" and path.stem.startswith("make_"):
            name = path.stem.removeprefix("make_")
            generated_rtf = f"{GENERATED}/rtf/{name}.rtf.gz"
            jobs.append(FixtureJob("script", relative, generated_rtf))
            jobs.append(FixtureJob("rtf", generated_rtf, f"{GENERATED}/rtf/{name}.html.gz"))
        elif folder == "rtf" and path.suffix == ".rtf":
            jobs.append(FixtureJob("rtf", relative, f"{GENERATED}/rtf/{path.stem}.html"))
        elif folder == "conversations" and path.suffix == ".json":
            output = f"{GENERATED}/conversations/{path.stem}.html.gz"
            jobs.append(FixtureJob("conversation", relative, output))
        else:
            unknown.append(relative)
    if unknown:
        raise ValueError(
            f"no rule makes a fixture from {', '.join(unknown)}; sources are rtf/*.rtf, "
            "conversations/*.json and make_*.py (see docs/importers.md)"
        )
    return jobs


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_manifest(root: Path) -> dict[str, ManifestEntry]:
    """The manifest's entries by output path; empty when there is no manifest yet.

    Raises:
        ValueError: The manifest is not JSON in the form regen-fixtures writes (a bad
            merge, an edit by hand); the message names the file and the fix.
    """
    path = root / MANIFEST
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {output: ManifestEntry(**entry) for output, entry in raw["outputs"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{MANIFEST} is malformed ({error!r}); {_REGENERATE}") from None


def manifest_text(entries: dict[str, ManifestEntry]) -> str:
    """The manifest file's content for ``entries`` (stable: sorted keys, final newline)."""
    document = {
        "comment": _HEADER,
        "outputs": {output: dataclasses.asdict(entries[output]) for output in sorted(entries)},
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def check_fixtures(root: Path) -> list[str]:
    """Compare the fixtures with the manifest, without regenerating anything.

    Returns:
        One line per problem, each naming the file concerned; empty when all is current.
    """
    if not (root / MANIFEST).is_file():
        return [f"{MANIFEST} is missing; {_REGENERATE}"]
    try:
        jobs = plan_jobs(root)
        entries = load_manifest(root)
    except ValueError as error:
        return [str(error)]
    problems: list[str] = []
    for job in jobs:
        problems.extend(_check_job(root, job, entries.get(job.output)))
    planned = {job.output for job in jobs}
    for output in sorted(set(entries) - planned):
        problems.append(f"{output}: listed in the manifest, but no source makes it any more")
    on_disk = {
        path.relative_to(root).as_posix()
        for path in (root / GENERATED).rglob("*")
        if path.is_file()
    }
    for output in sorted(on_disk - planned):
        problems.append(f"{output}: orphan output, no source makes it (delete it or regenerate)")
    return problems


def _check_job(root: Path, job: FixtureJob, entry: ManifestEntry | None) -> list[str]:
    if entry is None:
        return [f"{job.output}: not in the manifest (new source {job.source})"]
    problems = []
    if entry.source != job.source:
        problems.append(f"{job.output}: the manifest says it is made from {entry.source}")
    if not (root / job.source).is_file():
        problems.append(f"{job.source}: missing source of {job.output}")
    elif sha256_of(root / job.source) != entry.source_sha256:
        problems.append(f"{job.source}: source changed since {job.output} was generated")
    if not (root / job.output).is_file():
        problems.append(f"{job.output}: missing output (source {job.source})")
    elif sha256_of(root / job.output) != entry.output_sha256:
        problems.append(f"{job.output}: output differs from the manifest (edited by hand?)")
    return problems


def report_problems(problems: list[str]) -> str:
    """The message ``--check`` prints for stale fixtures."""
    lines = [f"fixtures are stale ({len(problems)} problem(s)):"]
    lines.extend(f"  - {problem}" for problem in problems)
    lines.append(f"To fix: {_REGENERATE}.")
    return "\n".join(lines)
