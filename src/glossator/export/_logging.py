"""Structured log lines for the worker: one JSON object per line on stderr.

``log_event(logger, "job.done", job_id=3, duration_ms=812)`` writes
``{"ts": "...", "level": "info", "event": "job.done", "job_id": 3, "duration_ms": 812}``
once :func:`configure_json_logging` installed the formatter; other formatters show the
event name and fields as ``key=value``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any, Final

__all__ = ["JsonLineFormatter", "configure_json_logging", "log_event"]

_FIELDS: Final = "glossator_fields"


class JsonLineFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, event, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as a single line of JSON."""
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_json_logging(level: int = logging.INFO) -> None:
    """Send glossator's log records to stderr as JSON lines (the worker's CLI calls it)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("glossator")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False


def log_event(
    logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log ``event`` with structured ``fields``.

    Args:
        logger: Where to log.
        event: A short dotted name, e.g. ``"job.done"``.
        level: The logging level.
        **fields: Values to attach (JSON-serialisable, or shown with ``str``).
    """
    exc_info = fields.pop("exc_info", None)
    logger.log(level, event, extra={_FIELDS: fields}, exc_info=exc_info)
