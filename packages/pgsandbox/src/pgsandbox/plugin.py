"""pgsandbox's pytest hooks, grouped by the phase of the run they belong to.

Loaded through the ``pytest11`` entry point ``pgsandbox`` (``-p no:pgsandbox`` turns it
off). The work itself lives in pytest-free modules: ``_controller`` (server, template,
worker databases), ``_worker``, ``_sandbox`` and ``_fixtures``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from pgsandbox._canary import CANARY_MESSAGE
from pgsandbox._controller import Assignment, RunController
from pgsandbox._diagnostics import (
    DEBUG_LOGGER,
    JsonlHandler,
    debug_log_path,
    summarize_debug_logs,
)
from pgsandbox._distribution import DB_PROPERTY, DistributionRecorder
from pgsandbox._errors import ConfigurationError, MigrationFailed, PgsandboxError
from pgsandbox._explain import explain
from pgsandbox._faults import LOST, connection_cut, trouble_of
from pgsandbox._loops import loop_scope_conflicts
from pgsandbox._report import build_report, table_lines, verify, write_report
from pgsandbox._settings import (
    PUBLIC_FIXTURES,
    SandboxSettings,
    explicit_flags,
    is_enabled,
    isolation_of,
)
from pgsandbox._state import STATE, ProcessState
from pgsandbox._worker import WorkerDatabases

if TYPE_CHECKING:
    from collections.abc import Callable, Generator

# Fixtures live in their own modules; pytest loads them as part of this plugin, so
# ``-p no:pgsandbox`` turns them off too. Nothing in this module may import them itself:
# pytest marks an installed plugin's modules for assertion rewriting as it loads them, and
# one already imported earns every adopter's run a PytestAssertRewriteWarning.
pytest_plugins = ["pgsandbox._options", "pgsandbox._fixtures"]
if importlib.util.find_spec("pytest_asyncio") is not None:
    pytest_plugins.append("pgsandbox._async_fixtures")

__all__: list[str] = []

_PROBLEMS = pytest.StashKey[list[str]]()


# ============================================================================ configure
def pytest_configure(config: pytest.Config) -> None:
    """Read settings in every process (controller and workers alike); connect nowhere.

    pytest_configure also runs in every xdist worker, so it must not build anything: the
    controller does that once, in pytest_sessionstart, before the workers start. In a
    project that has not configured pgsandbox, no state is kept and every hook below
    returns at once: installed is not enabled.
    """
    config.addinivalue_line(
        "markers",
        "pgsandbox(isolation): how this test's database is isolated: 'transaction' "
        "(rolled back), 'database' (a fresh clone) or 'shared' (run-wide, real commits).",
    )
    try:
        if not is_enabled(config):
            flags = explicit_flags(config)
            if flags:
                msg = (
                    f"pgsandbox: {', '.join(flags)} given, but this project does not "
                    "configure pgsandbox, so it is off. Set pgsandbox_alembic_ini (or "
                    "pgsandbox_schema, or pgsandbox_enable = true for an empty schema) in "
                    "your pytest configuration, or leave out the flag."
                )
                raise ConfigurationError(msg)
            return
        settings = SandboxSettings.from_pytest(config)
    except ConfigurationError as exc:
        raise pytest.UsageError(str(exc)) from None
    STATE.set(config, ProcessState(settings))


# ============================================================================ session start
@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Controller: prepare the server, template and shared database. Worker: adopt its own.

    Runs before xdist's own sessionstart, which starts the workers.
    """
    config = session.config
    state = STATE.find(config)
    if state is None:
        return
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        if "pgsandbox" in workerinput:
            state.worker = WorkerDatabases(Assignment.from_dict(workerinput["pgsandbox"]))
            _start_debug_log(config, state)
        return
    if config.option.collectonly:
        return
    try:
        controller = RunController(state.settings, say=_say(config, state))
    except PgsandboxError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    state.controller = controller
    numprocesses = getattr(config.option, "numprocesses", None)
    controller.expected_workers = numprocesses if isinstance(numprocesses, int) else 1
    config.pluginmanager.register(
        _ReportCollector(state.recorder, controller), "pgsandbox-distribution"
    )
    try:
        controller.start()
        if not _has_xdist_workers(config):
            state.worker = WorkerDatabases(controller.prepare_worker("main"))
            _start_debug_log(config, state)
    except PgsandboxError as exc:
        with contextlib.suppress(PgsandboxError):
            controller.finish()
        state.controller = None
        code = (
            pytest.ExitCode.INTERRUPTED
            if isinstance(exc, MigrationFailed)
            else (pytest.ExitCode.USAGE_ERROR)
        )
        pytest.exit(str(exc), returncode=code)


def _start_debug_log(config: pytest.Config, state: ProcessState) -> None:
    """With --pgsandbox-debug, send this process's connection events to its JSONL file."""
    if not state.settings.debug or state.worker is None:
        return
    path = debug_log_path(Path(config.rootpath), state.worker.worker_id)
    path.unlink(missing_ok=True)
    handler = JsonlHandler(
        path, {"run": state.worker.run_id, "worker": state.worker.worker_id, "pid": os.getpid()}
    )

    def add_test(record: logging.LogRecord) -> bool:
        if not getattr(record, "test", ""):
            record.test = state.tracker().test
        return True

    handler.addFilter(add_test)
    names = [DEBUG_LOGGER, *config.getini("pgsandbox_debug_loggers")]
    for name in names:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    logging.getLogger(DEBUG_LOGGER).propagate = False
    state.debug_handler = handler


def _has_xdist_workers(config: pytest.Config) -> bool:
    return config.pluginmanager.getplugin("dsession") is not None


def _say(config: pytest.Config, state: ProcessState) -> Callable[[str], None]:
    def say(line: str) -> None:
        state.header.append(line)
        reporter = config.pluginmanager.getplugin("terminalreporter")
        if reporter is not None and config.option.verbose > 1:
            reporter.write_line(line)

    return say


def pytest_report_header(config: pytest.Config) -> list[str]:
    """Say which server and template the run uses, and how long they took."""
    state = STATE.find(config)
    return list(state.header) if state is not None else []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> object:
    """Attribute connections and debug records to the test that is running."""
    state = STATE.find(item.config)
    if state is None or state.worker is None:
        return (yield)
    tracker = state.tracker()
    tracker.begin_test(item.nodeid, item.name)
    try:
        return (yield)
    finally:
        tracker.end_test()


# ============================================================================ xdist controller
@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """Clone the template for a worker before it starts, and tell it the database name."""
    state = STATE.find(node.config)
    if state is None or state.controller is None:
        return
    controller = state.controller
    try:
        assignment = controller.prepare_worker(node.gateway.id)
    except (PgsandboxError, psycopg.Error) as exc:
        # A clean stop instead of an INTERNALERROR; pytest_unconfigure drops what exists.
        controller.note(f"{type(exc).__name__}: {exc}")
        reason = controller.trouble_line() or str(exc)
        pytest.exit(
            f"pgsandbox: could not prepare worker {node.gateway.id}'s database.\n{reason}",
            returncode=pytest.ExitCode.INTERRUPTED,
        )
    node.workerinput["pgsandbox"] = assignment.to_dict()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """Check the canary of a finished worker's database and drop it."""
    state = STATE.find(node.config)
    if state is None or state.controller is None:
        return
    # Never raises for a lost or full server: the controller records the fault, and the
    # summary names it (an exception here would be an INTERNALERROR that ends the run).
    state.controller.release_worker(node.gateway.id)
    state.add_recycle(getattr(node, "workeroutput", {}).get("pgsandbox_recycle"))


# ============================================================================ collection
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Find database tests that are misconfigured, so they fail before anything runs.

    When the run has ``database`` tests, the worker starts making their clones now, while
    the tests before the first of them run.
    """
    state = STATE.find(config)
    if state is None:
        return
    wants_clones = False
    for item in items:
        problems = loop_scope_conflicts(item, PUBLIC_FIXTURES)
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & PUBLIC_FIXTURES or item.get_closest_marker("pgsandbox"):
            try:
                wants_clones |= isolation_of(item, state.settings.isolation) == "database"
            except (ConfigurationError, pytest.UsageError) as exc:
                problems.append(str(exc))
        if problems:
            item.stash[_PROBLEMS] = problems
    if wants_clones and state.worker is not None:
        state.worker.warm_clones(recycle=state.settings.recycle and not state.settings.keep)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Tag database tests for the report; fail misconfigured ones with the explanation."""
    state = STATE.find(item.config)
    if state is None:
        return
    fixtures = set(getattr(item, "fixturenames", ()))
    if fixtures & PUBLIC_FIXTURES:
        try:
            isolation = isolation_of(item, state.settings.isolation)
        except (ConfigurationError, pytest.UsageError):
            isolation = "invalid"
        item.user_properties.append((DB_PROPERTY, isolation))
    problems = item.stash.get(_PROBLEMS, None)
    if problems:
        pytest.fail("\n".join(_prefixed(problem) for problem in problems), pytrace=False)


def _prefixed(problem: str) -> str:
    return problem if problem.startswith("pgsandbox:") else f"pgsandbox: {problem}"


# ============================================================================ reporting
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add pgsandbox's explanation to failures with a well-known database/loop message."""
    report = yield
    if report.failed and call.excinfo is not None and STATE.find(item.config) is not None:
        text = str(report.longrepr)
        explanations = explain(text)
        for explanation in explanations:
            report.sections.append(("pgsandbox explains", explanation.render()))
        if not explanations and trouble_of(text) == LOST:
            report.sections.append(("pgsandbox explains", LOST_EXPLANATION))
    return report


LOST_EXPLANATION = (
    "pgsandbox: this test lost its PostgreSQL server (the connection was refused or cut): "
    "the server stopped or restarted during the run, so the failure says nothing about the "
    "test itself. The run's summary names the cause; start the server and run again."
)


class _ReportCollector:
    """Controller-side plugin recording which worker ran each test, and server faults."""

    def __init__(self, recorder: DistributionRecorder, controller: RunController) -> None:
        self.recorder = recorder
        self.controller = controller
        #: Failed tests by the fault their error shows: LOST, LIMIT, or "cut" (the server
        #: ended the connection, which counts as LOST once the server is known lost).
        self.fault_failures: dict[str, int] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        node = getattr(report, "node", None)  # xdist sets it on reports from workers
        worker = node.gateway.id if node is not None else "main"
        self.recorder.add(report, worker)
        if report.failed:
            text = str(report.longrepr)
            kind = self.controller.note(text) or ("cut" if connection_cut(text) else None)
            if kind is not None:
                self.fault_failures[kind] = self.fault_failures.get(kind, 0) + 1

    def failures_from(self, trouble: str) -> int:
        """How many tests failed because of the run's confirmed fault."""
        counted = self.fault_failures.get(trouble, 0)
        return counted + (self.fault_failures.get("cut", 0) if trouble == LOST else 0)


# ============================================================================ finish
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Worker: close connections. Controller: check canaries, drop the run's databases."""
    state = STATE.find(session.config)
    if state is None:
        return
    if state.worker is not None:
        summary = state.worker.recycle_summary()
        output = getattr(session.config, "workeroutput", None)
        if output is not None:  # an xdist worker: the controller adds it up
            output["pgsandbox_recycle"] = summary
        else:
            state.add_recycle(summary)
    _close_worker(state)
    controller = state.controller
    if controller is None:
        return
    canaries = controller.finish()
    dead = [c for c in canaries if c.alarm]
    settings = state.settings
    if settings.report is not None or settings.verify:
        report = build_report(
            state.recorder, canaries, run_id=controller.run_id, workers=controller.worker_ids
        )
        state.report = report
        if settings.report is not None:
            state.report_page = write_report(report, settings.report)
        if settings.verify:
            state.verdict = verify(report)
            if state.verdict and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if dead:
        state.problems.extend(
            f"{CANARY_MESSAGE}: {c.database} ({c.detail}). Something rebuilt or truncated a "
            "database pgsandbox prepared while tests used it; look for fixtures or hooks "
            "that migrate, TRUNCATE or DROP on their own connection."
            for c in dead
        )
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _close_worker(state: ProcessState) -> None:
    """Close the worker's connections; a server that went away must not crash the hook."""
    try:
        state.close_worker()
    except Exception as exc:  # any driver's error: the server may be gone
        if state.controller is not None:
            state.controller.note(f"{type(exc).__name__}: {exc}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Clean up on the exit paths that never reach pytest_sessionfinish.

    A Ctrl-C while xdist starts its workers, or an error in another plugin's
    pytest_sessionstart, ends the run without pytest_sessionfinish; pytest_unconfigure
    still runs. The controller drops every database of the run it can and says, on
    stderr (the terminal summary is not printed on these paths), what it dropped and
    what it could not, with the command that drops the rest.
    """
    state = STATE.find(config)
    if state is None:
        return
    _close_worker(state)
    controller = state.controller
    if controller is None or controller.finished:
        return
    controller.finish(check=False)
    for line in controller.cleanup_lines():
        sys.stderr.write(line + "\n")
    trouble = controller.trouble_line()
    if trouble is not None:
        sys.stderr.write(trouble + "\n")
    sys.stderr.flush()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Report canaries, the distribution, leftover sessions and what pgsandbox cleaned up."""
    state = STATE.find(config)
    if state is None or state.controller is None:
        return
    write = terminalreporter.write_line
    for problem in state.problems:
        write(f"pgsandbox: {problem}", red=True, bold=True)
    collector = config.pluginmanager.get_plugin("pgsandbox-distribution")
    kind = state.controller.trouble[0] if state.controller.trouble else ""
    failed = collector.failures_from(kind) if isinstance(collector, _ReportCollector) else 0
    trouble = state.controller.trouble_line(failed)
    if trouble is not None:
        write(trouble, red=True, bold=True)
    undropped = state.controller.undropped_line()
    if undropped is not None:
        write(undropped, red=True)
    _summarize_distribution(state, write)
    recycled = state.recycle_line()
    if recycled is not None:
        write(f"pgsandbox: {recycled}")
    controller = state.controller
    if controller.leftover_sessions:
        write(
            f"pgsandbox: {len(controller.leftover_sessions)} session(s) of this run were still "
            "connected at the end (a subprocess left running, or a leaked connection):",
            yellow=True,
        )
        for pid, database, app, sess_state, query in controller.leftover_sessions:
            write(f"pgsandbox:   pid {pid} {database} {app} [{sess_state}] {query}", yellow=True)
    if state.settings.debug:
        folder = Path(config.rootpath) / ".reports"
        write(f"pgsandbox: connection debug logs in {folder}:")
        for line in summarize_debug_logs(folder, controller.run_id):
            write(f"pgsandbox:   {line}")
    kept = controller.kept_databases()
    if kept:
        write(f"pgsandbox: kept databases {', '.join(kept)}")
    elif controller.canaries:
        survived = sum(c.survived for c in controller.canaries)
        read = sum(c.checked for c in controller.canaries)
        unread = len(controller.canaries) - read
        write(
            (f"pgsandbox: canaries {survived}/{read} survived" if read else "pgsandbox: canaries")
            + (f", {unread} could not be read (server gone or full)" if unread else "")
            + f"; dropped the run's {len(controller.dropped)} database(s)"
        )


def _summarize_distribution(state: ProcessState, write: Callable[..., None]) -> None:
    if state.recorder.records and state.report is None:
        write(f"pgsandbox: {state.recorder.summary_line()}")
    if state.report is not None:
        for line in table_lines(state.report):
            write(f"pgsandbox: {line}")
        if state.report_page is not None:
            write(f"pgsandbox: report written to {state.settings.report} and {state.report_page}")
    if state.verdict is None:
        return
    if state.verdict:
        write("pgsandbox verify: FAILED", red=True, bold=True)
        for problem in state.verdict:
            write(f"pgsandbox verify: - {problem}", red=True)
    else:
        write(
            "pgsandbox verify: PASSED: database tests spread across the workers, no "
            "event-loop errors, every canary survived",
            green=True,
        )
