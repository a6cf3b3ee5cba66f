"""``glossator worker``: its command-line flags and how they start an :class:`ExportWorker`.

Every flag has an environment variable (``GLOSSATOR_EXPORT_<FLAG>``, e.g.
``GLOSSATOR_EXPORT_CONCURRENCY=2``) that sets its default; the flag wins.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import TYPE_CHECKING, Final

from glossator.errors import ConfigurationError

if TYPE_CHECKING:
    import argparse

    from glossator.settings import Settings

__all__ = ["add_worker_arguments", "run_worker_command"]

# (flag, type, default, help); the environment variable is GLOSSATOR_EXPORT_<FLAG>.
_NUMERIC_FLAGS: Final = (
    ("concurrency", int, 1, "jobs run at the same time"),
    ("poll-interval", float, 5.0, "seconds between looks at the queue without a NOTIFY"),
    ("lease", float, 60.0, "seconds a claimed job stays this worker's without a heartbeat"),
    ("heartbeat", float, 15.0, "seconds between lease renewals (below --lease)"),
    ("compile-timeout", float, 120.0, "seconds latexmk may run for one job"),
    ("retry-delay", float, 5.0, "seconds before a failed job is retried (doubles each time)"),
    ("grace", float, 30.0, "seconds running jobs get to finish after SIGTERM"),
)


def _env_name(flag: str) -> str:
    return "GLOSSATOR_EXPORT_" + flag.upper().replace("-", "_")


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the worker's flags to ``parser`` (defaults from ``GLOSSATOR_EXPORT_*``)."""
    environ = os.environ
    parser.add_argument(
        "--queue",
        default=environ.get(_env_name("queue"), "default"),
        help="queue to take jobs from (default: %(default)s)",
    )
    for flag, kind, default, help_text in _NUMERIC_FLAGS:
        parser.add_argument(
            f"--{flag}",
            type=kind,
            default=environ.get(_env_name(flag), default),
            help=f"{help_text} (default: %(default)s)",
        )
    parser.add_argument(
        "--no-listen",
        action="store_true",
        default=environ.get(_env_name("no-listen"), "") not in ("", "0", "false", "no"),
        help="do not LISTEN for notifications; only poll",
    )
    parser.add_argument(
        "--renderer",
        default=environ.get(_env_name("renderer")) or None,
        metavar="MODULE:CALLABLE",
        help="function turning an ExportDocument into LaTeX (default: the built-in layout)",
    )


def run_worker_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the worker until SIGTERM or SIGINT; return the exit status (0, or 2 on bad flags)."""
    from glossator import db
    from glossator.export._logging import configure_json_logging
    from glossator.export.latex import render_latex
    from glossator.export.pipeline import load_renderer
    from glossator.export.worker import ExportWorker, WorkerConfig

    try:
        config = WorkerConfig(
            database_url=settings.database_url,
            queue=args.queue,
            concurrency=int(args.concurrency),
            poll_interval=float(args.poll_interval),
            lease_seconds=float(args.lease),
            heartbeat_interval=float(args.heartbeat),
            compile_time_limit=float(args.compile_timeout),
            retry_delay=float(args.retry_delay),
            grace_period=float(args.grace),
            listen=not args.no_listen,
            renderer=load_renderer(args.renderer) if args.renderer else render_latex,
        )
    except (ValueError, ConfigurationError) as error:
        print(f"glossator worker: {error}", file=sys.stderr)  # noqa: T201 - CLI error message
        return 2
    configure_json_logging()
    db.configure(settings)
    worker = ExportWorker(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.request_stop)
        await worker.run()

    asyncio.run(main())
    return 0
