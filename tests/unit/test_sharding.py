"""pytest-split cuts the database suite into CI shards that run every test exactly once.

``nox -s integration -- --splits N --group i`` runs shard ``i`` of ``N`` (docs/ci.md). The
shards are separate pytest runs, usually on separate machines, so nothing checks at run
time that together they ran the whole suite: these tests do, by asking pytest itself which
tests each shard selects (``--collect-only``, no database needed), with the options the
nox session adds (``--splitting-algorithm=least_duration --randomly-dont-reorganize``)
and with the shared random seed CI passes instead.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
#: What `nox -s integration` runs, in the same order.
SUITE = ("tests/integration", "packages/pgsandbox/tests")
DURATIONS = REPO_ROOT / ".test_durations"
SHARD_COUNTS = (1, 2, 3, 4)


@functools.cache
def _noxfile() -> ModuleType:
    """noxfile.py, loaded once (loading registers its sessions with nox, which warns twice)."""
    spec = importlib.util.spec_from_file_location("_noxfile_under_test", REPO_ROOT / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    noxfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(noxfile)
    return noxfile


def _nox_split_args(*posargs: str) -> list[str]:
    """What noxfile.py's integration session adds to these posargs (its `_split_args`)."""
    added: list[str] = _noxfile()._split_args(SimpleNamespace(posargs=list(posargs)))
    return added


def _collect(*args: str) -> list[str]:
    """Node ids that `pytest --collect-only` selects from the suite with ``args``."""
    env = {
        name: value
        for name, value in os.environ.items()
        # This test may itself run in an xdist worker: the child is a plain pytest run.
        if not name.startswith(("PYTEST_XDIST_", "PYTEST_ADDOPTS"))
    }
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    completed = subprocess.run(
        [*command, *SUITE, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return [line for line in completed.stdout.splitlines() if line.startswith(SUITE)]


def _collect_all(runs: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    """Run several collections side by side (each is a separate interpreter)."""
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        futures = {key: pool.submit(_collect, *args) for key, args in runs.items()}
        return {key: future.result() for key, future in futures.items()}


def _shard_key(splits: int, group: int) -> str:
    return f"{group}/{splits}"


@pytest.fixture(scope="module")
def nox_shards() -> dict[str, list[str]]:
    """The whole suite (key ``all``) and every shard for N = 1..4, as nox asks for them."""
    runs: dict[str, tuple[str, ...]] = {"all": ()}
    for splits in SHARD_COUNTS:
        for group in range(1, splits + 1):
            shard = (f"--splits={splits}", f"--group={group}")
            runs[_shard_key(splits, group)] = (*shard, *_nox_split_args(*shard))
    return _collect_all(runs)


class TestNoxSplitOptions:
    def test_nox_balances_by_duration_and_keeps_one_order(self) -> None:
        """Without a seed, shards keep the file order and are cut by recorded duration."""
        assert _nox_split_args("--splits", "2", "--group", "1") == [
            "--splitting-algorithm=least_duration",
            "--randomly-dont-reorganize",
        ]

    def test_a_shared_seed_or_explicit_algorithm_is_respected(self) -> None:
        """A caller's seed (CI's run id) keeps shuffling; a chosen algorithm is not overridden."""
        assert _nox_split_args("--splits", "2", "--group", "1", "--randomly-seed", "7") == [
            "--splitting-algorithm=least_duration"
        ]
        chunks = ("--splits=2", "--group=2", "--splitting-algorithm=duration_based_chunks")
        assert _nox_split_args(*chunks, "-p", "no:randomly") == []

    def test_no_split_options_without_splits(self) -> None:
        """An ordinary integration run gets nothing from pytest-split."""
        assert _nox_split_args("-k", "courses") == []


class TestShardsCoverTheSuite:
    @pytest.mark.parametrize("splits", SHARD_COUNTS)
    def test_shards_partition_the_suite(
        self, nox_shards: dict[str, list[str]], splits: int
    ) -> None:
        """For N shards, every collected test is in exactly one of them, and no other test is."""
        whole = nox_shards["all"]
        assert len(whole) > 50, "the suite was not collected"
        assert len(set(whole)) == len(whole)
        shards = [nox_shards[_shard_key(splits, group)] for group in range(1, splits + 1)]
        counted = Counter(test for shard in shards for test in shard)
        duplicated = sorted(test for test, times in counted.items() if times > 1)
        missing = sorted(set(whole) - set(counted))
        unknown = sorted(set(counted) - set(whole))
        assert (duplicated, missing, unknown) == ([], [], [])
        assert sum(len(shard) for shard in shards) == len(whole)
        assert all(shard for shard in shards), "a shard was empty"

    def test_one_shard_is_the_whole_suite(self, nox_shards: dict[str, list[str]]) -> None:
        """`--splits 1 --group 1` (the matrix jobs that do not shard) runs everything."""
        assert sorted(nox_shards[_shard_key(1, 1)]) == sorted(nox_shards["all"])

    @pytest.mark.parametrize("splits", [2, 3, 4])
    def test_shards_are_balanced_by_recorded_durations(
        self, nox_shards: dict[str, list[str]], splits: int
    ) -> None:
        """Shards' recorded durations differ by at most the longest single test.

        That is the guarantee of least_duration (longest test first, into the lightest
        shard); tests without a recorded duration count as the average, as pytest-split does.
        """
        recorded: dict[str, float] = json.loads(DURATIONS.read_text())
        known = [recorded[test] for test in nox_shards["all"] if test in recorded]
        average = sum(known) / len(known)
        totals = [
            sum(recorded.get(test, average) for test in nox_shards[_shard_key(splits, group)])
            for group in range(1, splits + 1)
        ]
        longest = max(recorded.get(test, average) for test in nox_shards["all"])
        assert max(totals) - min(totals) <= longest + 1e-6, totals

    def test_shards_agree_when_every_shard_gets_the_same_seed(self) -> None:
        """CI shuffles (pytest-randomly) with one seed per run: still an exact partition."""
        seed = "--randomly-seed=20261122"
        runs: dict[str, tuple[str, ...]] = {"all": (seed,)}
        for group in (1, 2):
            runs[_shard_key(2, group)] = (
                "--splits=2",
                f"--group={group}",
                "--splitting-algorithm=least_duration",
                seed,
            )
        collected = _collect_all(runs)
        first, second = collected[_shard_key(2, 1)], collected[_shard_key(2, 2)]
        assert not set(first) & set(second)
        assert sorted(first + second) == sorted(collected["all"])


class TestRecordedDurations:
    def test_durations_file_maps_suite_tests_to_seconds(self) -> None:
        """.test_durations (written by `nox -s durations`) holds node ids of this suite."""
        recorded = json.loads(DURATIONS.read_text())
        assert isinstance(recorded, dict)
        assert recorded, "empty: run `nox -s durations`"
        for test, seconds in recorded.items():
            assert test.startswith(SUITE), test
            assert isinstance(seconds, float)
            assert seconds >= 0
