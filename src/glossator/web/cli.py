"""``glossator serve`` and ``glossator user create|revoke-sessions``: flags and what they run."""

from __future__ import annotations

import asyncio
import getpass
import sys
from typing import TYPE_CHECKING

from glossator.errors import ConfigurationError, NotFound, ValidationError

if TYPE_CHECKING:
    import argparse

    from glossator.settings import Settings

__all__ = [
    "add_serve_arguments",
    "add_user_arguments",
    "run_serve_command",
    "run_user_command",
]


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``glossator serve``'s flags to ``parser``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (%(default)s)")
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        default=10.0,
        help="seconds open requests get to finish after SIGTERM (%(default)s)",
    )


def run_serve_command(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the web app with uvicorn until SIGTERM/SIGINT; 0, or 2 on a bad setting."""
    import uvicorn

    from glossator.web import create_app

    try:
        app = create_app(settings)
    except ConfigurationError as error:
        print(f"glossator serve: {error}", file=sys.stderr)  # noqa: T201 - CLI error message
        return 2
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        timeout_graceful_shutdown=args.graceful_timeout,
        server_header=False,
        proxy_headers=False,
    )
    return 0


def add_user_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``glossator user``'s subcommands to ``parser``."""
    actions = parser.add_subparsers(dest="user_command", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create",
        help="create a user who can sign in (or set an existing user's password)",
        description="Create a user with a password, or set the password of an existing one. "
        "Without --password the password is read from standard input (prompted on a "
        "terminal), so it stays out of the process list.",
    )
    create.add_argument("--email", required=True, help="the user's e-mail address")
    create.add_argument("--name", default=None, help="display name (default: part before @)")
    create.add_argument("--password", default=None, help="the password (visible to `ps`!)")
    revoke = actions.add_parser(
        "revoke-sessions",
        help="sign a user out everywhere (end all their sessions)",
        description="End every session of the user: each copy of their session cookies "
        "stops working at its next request. Their password stays as it is.",
    )
    revoke.add_argument("--email", required=True, help="the user's e-mail address")


def _read_password() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("password: ")
    return sys.stdin.readline().rstrip("\r\n")


def run_user_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``glossator user ACTION``; 0, or 2 on invalid input or an unknown user."""
    from glossator import db
    from glossator.web.accounts import revoke_sessions, set_password

    action = f"glossator user {args.user_command}"
    password = None
    if args.user_command == "create":
        password = args.password if args.password is not None else _read_password()

    async def run() -> str:
        db.configure(settings)
        try:
            if password is not None:
                user = await set_password(args.email, password, args.name)
                return f"user {user.id} <{user.email}> can sign in"
            ended = await revoke_sessions(args.email)
            return f"ended {ended} session(s) of <{args.email.strip().lower()}>"
        finally:
            await db.dispose_engines()

    try:
        report = asyncio.run(run())
    except (ValidationError, NotFound) as error:
        print(f"{action}: {error}", file=sys.stderr)  # noqa: T201 - CLI error
        return 2
    print(report)  # noqa: T201 - CLI report
    return 0
