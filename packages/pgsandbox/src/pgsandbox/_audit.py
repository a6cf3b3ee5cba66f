"""A static audit of a test suite: the habits that make parallel database tests lie.

``python -m pgsandbox audit tests/`` (``nox -s audit``, also run by ``nox -s lint``) reads
every test module with :mod:`ast` (nothing is imported or run) and reports, per finding,
the file, line, rule, why it matters and the fix.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

__all__ = ["RULES", "Finding", "audit_paths", "audit_source"]

EXTERNAL_TOOLS = frozenset(
    {"soffice", "libreoffice", "latexmk", "pdflatex", "lualatex", "xelatex", "pandoc"}
)
DB_FIXTURES = frozenset(
    {
        "pgsandbox_url",
        "pgsandbox_engine",
        "pgsandbox_connection",
        "pgsandbox_session",
        "pgsandbox_sessionmaker",
        "pgsandbox_sync_session",
    }
)
SUBPROCESS_CALLS = frozenset(
    {
        "run",
        "Popen",
        "call",
        "check_call",
        "check_output",
        "create_subprocess_exec",
        "create_subprocess_shell",
        "system",
    }
)
ASSERTING_CALLS = ("assert", "check", "expect", "verify", "raises", "fail", "warns")

#: rule name -> (why it matters, how to fix it)
RULES: dict[str, tuple[str, str]] = {
    "xdist-group-on-db-test": (
        "xdist_group pins database tests to one worker, so the 'parallel' run is serial",
        "remove the mark; pgsandbox gives every worker its own database",
    ),
    "engine-in-test": (
        "an engine made in test code is bound to one event loop and bypasses isolation",
        "use pgsandbox_engine / pgsandbox_sessionmaker (or mark isolation='database')",
    ),
    "external-tool-in-test": (
        "spawning soffice/latexmk/pandoc from tests makes them slow and machine-dependent",
        "go through the application's importer/exporter, or read generated fixtures",
    ),
    "async-fixture-without-pytest-asyncio": (
        "@pytest.fixture on an async function only works in auto mode and hides its loop scope",
        "declare it with @pytest_asyncio.fixture (and a loop_scope if it is not 'function')",
    ),
    "test-asserts-nothing": (
        "a test that asserts nothing passes whatever the code does",
        "assert on the outcome (or use pytest.raises)",
    ),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule broken at one place."""

    path: str
    line: int
    rule: str

    def describe(self) -> str:
        """``path:line: rule: why. Fix: how.``"""
        why, fix = RULES[self.rule]
        return f"{self.path}:{self.line}: {self.rule}: {why}. Fix: {fix}."


def audit_paths(paths: Iterable[Path]) -> list[Finding]:
    """Audit every ``test_*.py`` and ``conftest.py`` under the given files or folders."""
    findings: list[Finding] = []
    for root in paths:
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in files:
            if path.name.startswith("test_") or path.name == "conftest.py":
                findings.extend(audit_source(path.read_text(), str(path)))
    return findings


def audit_source(source: str, path: str) -> list[Finding]:
    """Audit one module's source text."""
    tree = ast.parse(source, filename=path)
    module_marks = _module_marks(tree)
    lines = source.splitlines()
    findings = [
        Finding(path, line, rule)
        for line, rule in _walk(tree, module_marks)
        if not _allowed(lines, line, rule)
    ]
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _allowed(lines: list[str], line: int, rule: str) -> bool:
    """Whether the line says ``# pgsandbox-audit: allow RULE`` (a deliberate exception).

    For the rare test that must do what a rule warns against, such as an engine on a
    port nothing listens on to simulate an outage; the comment keeps the reason in sight.
    """
    text = lines[line - 1] if 0 < line <= len(lines) else ""
    marker = text.partition("# pgsandbox-audit:")[2]
    return rule in marker.replace(",", " ").split()


def _walk(tree: ast.Module, module_marks: set[str]) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield from _check_call(node)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _check_function(node, module_marks)


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _check_call(node: ast.Call) -> Iterator[tuple[int, str]]:
    name = _dotted(node.func)
    last = name.rsplit(".", 1)[-1]
    if last in {"create_async_engine", "create_engine"}:
        yield node.lineno, "engine-in-test"
    if last in SUBPROCESS_CALLS and node.args:
        first = node.args[0]
        program = ""
        if isinstance(first, ast.List | ast.Tuple) and first.elts:
            head = first.elts[0]
            program = str(head.value) if isinstance(head, ast.Constant) else ""
        elif isinstance(first, ast.Constant):
            words = str(first.value).split()
            program = words[0] if words else ""
        if program.rsplit("/", 1)[-1] in EXTERNAL_TOOLS:
            yield node.lineno, "external-tool-in-test"


def _marks(decorators: list[ast.expr]) -> set[str]:
    names = set()
    for decorator in decorators:
        dotted = _dotted(decorator)
        if dotted.startswith(("pytest.mark.", "mark.")):
            names.add(dotted.rsplit(".", 1)[-1])
    return names


def _module_marks(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            return {
                _dotted(v).rsplit(".", 1)[-1]
                for v in ast.walk(node.value)
                if isinstance(v, ast.Attribute) and _dotted(v).startswith("pytest.mark.")
            }
    return set()


def _check_function(
    node: ast.FunctionDef | ast.AsyncFunctionDef, module_marks: set[str]
) -> Iterator[tuple[int, str]]:
    decorators = {_dotted(d) for d in node.decorator_list}
    is_fixture = any(d in {"pytest.fixture", "fixture"} for d in decorators)
    if is_fixture and isinstance(node, ast.AsyncFunctionDef):
        yield node.lineno, "async-fixture-without-pytest-asyncio"
    if not node.name.startswith("test") or is_fixture:
        return
    args = {a.arg for a in node.args.args}
    marks = _marks(node.decorator_list) | module_marks
    if "xdist_group" in marks and (args & DB_FIXTURES or "pgsandbox" in marks):
        yield node.lineno, "xdist-group-on-db-test"
    if not _asserts_something(node):
        yield node.lineno, "test-asserts-nothing"


def _asserts_something(node: ast.AST) -> bool:
    for inner in ast.walk(node):
        if isinstance(inner, ast.Assert | ast.Raise):
            return True
        if isinstance(inner, ast.Call):
            name = _dotted(inner.func).lower()
            if any(word in name for word in ASSERTING_CALLS):
                return True
    return False
