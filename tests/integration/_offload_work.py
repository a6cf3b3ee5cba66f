"""Functions the worker-pool tests send to worker processes (importable by name there)."""

from __future__ import annotations

import os
import time

from glossator.importers import DocumentTooLarge


def pid_and_square(number: int) -> tuple[int, int]:
    """The worker's process id, and ``number`` squared."""
    return os.getpid(), number * number


def sleep_then_pid(seconds: float) -> int:
    """Sleep (a stand-in for runaway work), then return the process id."""
    time.sleep(seconds)
    return os.getpid()


def die() -> None:
    """End the worker process abruptly, as a crash in a native library would."""
    os._exit(3)


def too_large() -> None:
    """Raise a glossator error whose constructor takes two numbers."""
    raise DocumentTooLarge(10, 5)


def buggy() -> None:
    """Raise an error that is not glossator's."""
    raise KeyError("missing")
