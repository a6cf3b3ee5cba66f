"""``python -m pgsandbox flake``: repeated runs in random order, the failures table, the load."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pgsandbox.__main__ import main
from pgsandbox._flake import Burners, FlakeRun, flake_table

if TYPE_CHECKING:
    import subprocess


class TestTable:
    def test_groups_failures_by_test_with_the_seeds_that_failed(self) -> None:
        """A test failing in 2 of 3 runs shows 2/3 and both seeds; the load is listed."""
        runs = [
            FlakeRun(1, 11, 1, "1 failed", 1.0, (3.5, 0, 0), [("t.py::test_a", "assert 0")]),
            FlakeRun(2, 22, 0, "2 passed", 1.0, (4.0, 0, 0), []),
            FlakeRun(3, 33, 1, "1 failed", 1.0, (5.25, 0, 0), [("t.py::test_a", "assert 0")]),
        ]
        lines = flake_table(runs).splitlines()
        row = next(line for line in lines if "t.py::test_a" in line)
        assert row.split()[0] == "2/3"
        assert row.endswith("11, 33: assert 0")
        assert lines[-1].startswith("load average (1 min) after each run: 3.5, 4.0, 5.2")

    def test_says_so_when_nothing_failed(self) -> None:
        """No failures is one line saying so."""
        table = flake_table([FlakeRun(1, 7, 0, "2 passed", 1.0, (1.0, 0, 0), [])])
        assert "no test failed in 1 run(s)" in table


class TestBurners:
    def test_are_stopped_even_when_the_body_raises(self) -> None:
        """Every burner process is gone after the block, however it ended."""
        procs: list[subprocess.Popen[bytes]] = []

        def burn_then_fail() -> None:
            with Burners(2) as burners:
                procs.extend(burners.procs)
                assert all(proc.poll() is None for proc in procs)  # burning
                raise RuntimeError

        with pytest.raises(RuntimeError):
            burn_then_fail()
        assert len(procs) == 2
        assert all(proc.returncode is not None for proc in procs)  # stopped and reaped


class TestFlakeCommand:
    def test_two_runs_name_the_failing_test_and_the_seeds(
        self,
        pytester: pytest.Pytester,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """``flake --runs 2 --load 1`` runs the suite twice and tables the failing test,
        with its error however long its node id."""
        pytester.makepyfile(
            test_small="""
            def test_passes():
                pass

            class TestNamedAtLength:
                def test_fails_with_a_node_id_that_alone_fills_eighty_columns(self):
                    assert 1 == 2, "fails in every order"
            """
        )
        # The inner runs are fresh pytest sessions, not workers of this one.
        for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
            monkeypatch.delenv(name, raising=False)
        code = main(["flake", "--runs", "2", "--load", "1", "--workers", "1", "test_small.py"])
        out = capsys.readouterr().out
        assert code == 1, out
        runs = [line for line in out.splitlines() if line.startswith("pgsandbox flake: run ")]
        assert len(runs) == 2, out
        seeds = [line.split()[5].rstrip(":") for line in runs]
        # The node id is longer than the 80 columns pytest assumes without a terminal, where
        # its short summary would leave the error out.
        failing = (
            "test_small.py::TestNamedAtLength::"
            "test_fails_with_a_node_id_that_alone_fills_eighty_columns"
        )
        # Each run names its failures as it ends, the table repeats them at the end.
        named = [line for line in out.splitlines() if line.startswith(f"    {failing}: ")]
        assert named == [f"    {failing}: AssertionError: fails in every order"] * 2, out
        row = next(line for line in out.splitlines() if line.startswith("2/2") and failing in line)
        assert row.split()[0] == "2/2"
        assert row.endswith(f"{seeds[0]}, {seeds[1]}: AssertionError: fails in every order")
        assert "load average (1 min) after each run:" in out
