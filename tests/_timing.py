"""Deadlines of the test suite, all derived from one scale: ``GLOSSATOR_TEST_TIMEOUT_SCALE``.

A deadline in a test is how long it waits for a state before it fails (a worker logging
``worker.ready``, a job reaching ``done``); it never delays a passing test, which moves
on as soon as the state is reached. On a loaded machine (CI runners, ``-n 4`` on two
cores, a load average of 20) everything takes several times longer than on an idle
laptop, so every deadline is a base figure (measured idle, with room) times the scale.

The default scale, 3, is generous: a worker that is ready in 2 s idle gets 90 s. Raise
it on slower machines (``GLOSSATOR_TEST_TIMEOUT_SCALE=6 nox -s integration``), lower it
to make a hanging test fail sooner while debugging.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["DEFAULT_TIMEOUT_SCALE", "TIMEOUT_SCALE_VARIABLE", "scaled", "timeout_scale"]

TIMEOUT_SCALE_VARIABLE: Final = "GLOSSATOR_TEST_TIMEOUT_SCALE"
DEFAULT_TIMEOUT_SCALE: Final = 3.0


def timeout_scale() -> float:
    """The factor every test deadline is multiplied by (``GLOSSATOR_TEST_TIMEOUT_SCALE``).

    Raises:
        ValueError: The variable is set to something other than a positive number.
    """
    raw = os.environ.get(TIMEOUT_SCALE_VARIABLE, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_SCALE
    try:
        scale = float(raw)
    except ValueError:
        scale = 0.0
    if not scale > 0:
        msg = f"{TIMEOUT_SCALE_VARIABLE} must be a positive number, got {raw!r}"
        raise ValueError(msg)
    return scale


def scaled(seconds: float) -> float:
    """``seconds`` (a deadline measured on an idle machine) times :func:`timeout_scale`."""
    return seconds * timeout_scale()
