"""Loading the project's code for a template build: callables, sys.path, captured output.

Shared by the schema/seed callables (``_template``) and the alembic build (``_alembic``).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import sys
from typing import TYPE_CHECKING, Any

from pgsandbox._errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

__all__ = ["captured_output", "first_lines", "load_callable", "on_sys_path", "tail"]


def load_callable(spec: str, rootdir: Path, ini_key: str) -> Callable[..., Any]:
    """Import ``module:callable`` named by an ini key.

    Raises:
        ConfigurationError: the value is malformed, or the module or attribute is missing.
    """
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        msg = f"pgsandbox: {ini_key} = {spec!r} must have the form 'package.module:function'."
        raise ConfigurationError(msg)
    with on_sys_path(rootdir):
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            msg = f"pgsandbox: {ini_key} = {spec!r}: cannot import {module_name!r}: {exc}"
            raise ConfigurationError(msg) from None
    target = getattr(module, attr, None)
    if not callable(target):
        msg = f"pgsandbox: {ini_key} = {spec!r}: {module_name} has no callable {attr!r}."
        raise ConfigurationError(msg)
    return target  # type: ignore[no-any-return]  # an arbitrary user callable


@contextlib.contextmanager
def on_sys_path(path: Path) -> Iterator[None]:
    entry = str(path)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        yield
    finally:
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(entry)


def first_lines(exc: BaseException, limit: int = 6) -> str:
    return "\n  ".join(str(exc).strip().splitlines()[:limit])


def tail(text: str, limit: int = 12) -> str:
    lines = [line for line in text.splitlines() if line.strip()][-limit:]
    return "".join(f"  | {line}\n" for line in lines)


@contextlib.contextmanager
def captured_output() -> Iterator[io.StringIO]:
    """Capture what migrations print, and undo the logging changes env.py's fileConfig makes.

    ``logging.config.fileConfig`` disables every existing logger by default, which would
    silence the application's and pytest's loggers for the rest of the run.
    """
    buffer = io.StringIO()
    manager = logging.Logger.manager
    saved = {
        name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = logging.getLogger()
    root_state = (root.level, list(root.handlers))
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        root.setLevel(root_state[0])
        root.handlers[:] = root_state[1]
        for name, logger in list(manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            if name in saved:
                level, handlers, propagate, disabled = saved[name]
                logger.setLevel(level)
                logger.handlers[:] = handlers
                logger.propagate = propagate
                logger.disabled = disabled
            else:
                logger.handlers.clear()
                logger.propagate = True
                logger.disabled = False
