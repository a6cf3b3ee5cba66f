"""benchmarks/realistic.py writes the suite it promises (no database needed)."""

from __future__ import annotations

import ast
import json
from typing import TYPE_CHECKING

import pytest
from benchmarks.realistic import SCENARIOS, distribute, write_realistic_suite

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("tests", [1, 31, 62, 1000, 1001])
def test_counts_add_up_with_the_promised_shares(tests: int) -> None:
    """Every test is counted once; ~10% database, ~2% shared (rounded)."""
    counts = distribute(tests)
    assert sum(counts.values()) == tests
    by_kind = dict.fromkeys(("transaction", "database", "shared"), 0)
    for scenario in SCENARIOS:
        by_kind[scenario.isolation] += counts[scenario.key]
    assert by_kind["database"] == round(tests * 0.10)
    assert by_kind["shared"] == round(tests * 0.02)


def test_zero_tests_is_refused() -> None:
    """A suite of no tests is an error, not an empty table row."""
    with pytest.raises(ValueError, match="at least one test"):
        distribute(0)


@pytest.mark.parametrize("way", ["pgsandbox", "nullpool"])
def test_suite_folder_holds_both_conftests_modules_and_counts(tmp_path: Path, way: str) -> None:
    """The same test modules for both ways; only the conftest and the ini differ."""
    suite = write_realistic_suite(tmp_path / way, way, 100)
    names = sorted(p.name for p in suite.iterdir())
    modules = sorted(f"test_{m}.py" for m in {s.module for s in SCENARIOS})
    assert names == sorted(["conftest.py", "counts.json", "pytest.ini", *modules])
    assert sum(json.loads((suite / "counts.json").read_text()).values()) == 100
    ini = (suite / "pytest.ini").read_text()
    assert ("pgsandbox_alembic_ini" in ini) is (way == "pgsandbox")
    conftest = (suite / "conftest.py").read_text()
    assert ("NullPool" in conftest) is (way == "nullpool")
    for module in modules:
        ast.parse((suite / module).read_text())


def test_unknown_way_is_refused(tmp_path: Path) -> None:
    """Only the two ways exist."""
    with pytest.raises(ValueError, match="unknown way"):
        write_realistic_suite(tmp_path / "x", "pooled", 10)
