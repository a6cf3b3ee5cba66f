"""Which event loop a test runs in, and async fixtures that would use a different one.

An engine (and every pooled asyncpg connection) belongs to the loop it was created in.
pytest-asyncio can run a test in one loop (``asyncio_default_test_loop_scope`` or
``@pytest.mark.asyncio(loop_scope=...)``) and an async fixture in another
(``asyncio_default_fixture_loop_scope`` or ``@pytest_asyncio.fixture(loop_scope=...)``).
pgsandbox always opens its connections in the test's own loop; this module finds the
user's async fixtures that take a pgsandbox fixture but run in another loop, which would
otherwise fail later with "attached to a different loop".
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

__all__ = ["LOOP_SCOPES", "loop_scope_conflicts", "test_loop_scope"]

LOOP_SCOPES = ("function", "class", "module", "package", "session")
_MATCH_FIXTURE_SCOPE = "fixture-scope"  # pytest-asyncio's value meaning "same as fixture"


def _ini(config: pytest.Config, name: str) -> str | None:
    try:
        value = config.getini(name)
    except ValueError:  # pytest-asyncio is not installed: the key is unknown
        return None
    return str(value) if value else None


def test_loop_scope(item: pytest.Item) -> str:
    """Return the loop scope pytest-asyncio runs ``item`` in."""
    marker = item.get_closest_marker("asyncio")
    if marker is not None:
        scope = marker.kwargs.get("loop_scope") or marker.kwargs.get("scope")
        if scope:
            return str(scope)
    return _ini(item.config, "asyncio_default_test_loop_scope") or "function"


def _fixture_function(fixturedef: Any) -> Any:
    """The user's own fixture function: pytest-asyncio before 1.0 replaces ``func`` with a
    synchronous wrapper (``functools.wraps``), which hides that it is async."""
    return inspect.unwrap(getattr(fixturedef.func, "__func__", fixturedef.func))


def _fixture_loop_scope(config: pytest.Config, fixturedef: Any) -> str:
    func = _fixture_function(fixturedef)
    explicit = getattr(func, "_loop_scope", None)
    if explicit:
        return str(explicit)
    default = _ini(config, "asyncio_default_fixture_loop_scope")
    if default and default != _MATCH_FIXTURE_SCOPE:
        return default
    return str(fixturedef.scope)


def _is_async(fixturedef: Any) -> bool:
    func = _fixture_function(fixturedef)
    return inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)


def loop_scope_conflicts(item: pytest.Item, public_fixtures: frozenset[str]) -> list[str]:
    """Describe each async fixture of ``item`` that uses pgsandbox in another loop."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None or not public_fixtures.intersection(info.names_closure):
        return []
    closure: dict[str, Any] = info.name2fixturedefs
    test_scope = test_loop_scope(item)
    uses_sandbox: dict[str, bool] = {}

    def depends(name: str, seen: frozenset[str] = frozenset()) -> bool:
        if name in public_fixtures:
            return True
        if name in uses_sandbox:
            return uses_sandbox[name]
        defs = closure.get(name)
        if not defs or name in seen:
            return False
        result = any(depends(arg, seen | {name}) for arg in defs[-1].argnames)
        uses_sandbox[name] = result
        return result

    problems = []
    for name, defs in closure.items():
        if name.startswith("_pgsandbox") or name in public_fixtures or not defs:
            continue
        fixturedef = defs[-1]
        if not _is_async(fixturedef) or not depends(name):
            continue
        scope = _fixture_loop_scope(item.config, fixturedef)
        if scope != test_scope:
            problems.append(
                f"async fixture {name!r} runs in the {scope!r}-scoped event loop but the test "
                f"runs in the {test_scope!r}-scoped one, and the fixture uses pgsandbox's "
                "connections, which belong to the test's loop. Make them agree: set "
                f"asyncio_default_fixture_loop_scope = {test_scope} (or "
                f"asyncio_default_test_loop_scope = {scope}) in your pytest ini, or pass "
                f"loop_scope={test_scope!r} to @pytest_asyncio.fixture for {name!r}."
            )
    return problems
