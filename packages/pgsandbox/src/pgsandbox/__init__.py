"""pgsandbox: parallel-safe PostgreSQL databases for pytest and pytest-xdist.

The schema is built once per run into a template keyed by a hash of the migrations; each
xdist worker gets its own clone; each test is isolated by a rolled-back transaction, a
fresh clone, or unique data in a shared database. See docs/pgsandbox.md.
"""

from __future__ import annotations

# The test clients for ASGI apps (imports nothing of the frameworks until called).
from pgsandbox import asgi
from pgsandbox._canary import CANARY_MESSAGE
from pgsandbox._errors import ConfigurationError, MigrationFailed, PgsandboxError, ServerUnavailable
from pgsandbox._settings import ISOLATION_MODES
from pgsandbox._template import BUILDER_VERSION

__all__ = [
    "BUILDER_VERSION",
    "CANARY_MESSAGE",
    "ISOLATION_MODES",
    "ConfigurationError",
    "MigrationFailed",
    "PgsandboxError",
    "ServerUnavailable",
    "__version__",
    "asgi",
]

__version__ = "0.2.0"
