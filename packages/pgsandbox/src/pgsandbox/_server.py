"""Decide which PostgreSQL server a run uses: a URL given to us, or our own cluster."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from pgsandbox._cluster import Cluster
from pgsandbox._errors import ConfigurationError

__all__ = ["URL_VARIABLE", "ServerInfo", "resolve_server", "url_from_environment"]

#: The environment variable naming the server. pgsandbox's own: ``TEST_DATABASE_URL``,
#: which it read before 0.2, usually names a project's *test database*, not a server
#: whose maintenance database pgsandbox may create databases beside.
URL_VARIABLE = "PGSANDBOX_URL"


def url_from_environment() -> str | None:
    """The server URL from the environment (``PGSANDBOX_URL``), if set."""
    return os.environ.get(URL_VARIABLE) or None


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """The server a run uses.

    Attributes:
        url: URL of the maintenance database (driver-neutral ``postgresql://``).
        source: where it came from, for messages.
        action: ``configured``, or what the ephemeral cluster did (created, started, reused).
        seconds: time spent resolving or starting it.
    """

    url: URL
    source: str
    action: str
    seconds: float

    def describe(self) -> str:
        """One line for the run header."""
        return (
            f"{self.url.render_as_string(hide_password=True)} ({self.source}, {self.action} "
            f"in {self.seconds:.2f}s)"
        )


def parse_server_url(raw: str, source: str) -> URL:
    """Parse a server URL from the user, keeping any driver out of it.

    Raises:
        ConfigurationError: the text is not a PostgreSQL URL.
    """
    try:
        url = make_url(raw)
    except ArgumentError:
        msg = (
            f"pgsandbox: {source} is not a database URL: {raw!r}.\n"
            "  Use the form postgresql://user:password@host:port/postgres"
        )
        raise ConfigurationError(msg) from None
    if url.get_backend_name() != "postgresql":
        msg = f"pgsandbox: {source} must be a PostgreSQL URL, got {url.get_backend_name()!r}."
        raise ConfigurationError(msg)
    return url.set(drivername="postgresql", database=url.database or "postgres")


def resolve_server(
    cli_url: str | None, env_url: str | None, *, cli_option: str = "--pgsandbox-url"
) -> ServerInfo:
    """Return the server named by ``--pgsandbox-url``, else ``PGSANDBOX_URL``, else ours.

    Args:
        cli_url: the command line's URL, if any.
        env_url: ``PGSANDBOX_URL``, if set.
        cli_option: how error messages name the command line's option (``--url`` for
            ``python -m pgsandbox``).

    Nothing is connected here, except to the ephemeral cluster to see that it is up.
    """
    started = time.perf_counter()
    if cli_url:
        url = parse_server_url(cli_url, cli_option)
        return ServerInfo(url, cli_option, "configured", time.perf_counter() - started)
    if env_url:
        url = parse_server_url(env_url, URL_VARIABLE)
        return ServerInfo(url, URL_VARIABLE, "configured", time.perf_counter() - started)
    status = Cluster.default().ensure_running()
    return ServerInfo(
        status.url, f"ephemeral cluster in {status.data_dir.parent}", status.action, status.seconds
    )
