"""When an external program a test needs is missing: skip locally, fail in CI.

A developer without LibreOffice (or latexmk, Chromium, ...) should still be able to run
the suite: such tests skip and say what to install. In CI a skip would hide a broken
setup, so there the same tests fail: CI installs every program the tests use
(``.ci/run`` and ``.github/workflows/ci.yml``).
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["in_ci", "require_tool"]


def in_ci() -> bool:
    """Whether the tests run in CI (the ``CI`` variable is ``true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def require_tool(name: str, *, install_hint: str) -> str:
    """Return the path of program ``name``, or skip or fail the calling test.

    Policy when the program is not on ``PATH``:

    * outside CI: skip, with a reason naming ``install_hint``;
    * in CI (``CI=true``): fail, since a missing tool there is a broken setup.

    Args:
        name: The program, e.g. ``"soffice"``.
        install_hint: The command that installs it, e.g.
            ``"apt-get install libreoffice-writer-nogui"``.

    Returns:
        The program's absolute path.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    reason = f"{name} is not installed (install it with: {install_hint})"
    if in_ci():
        pytest.fail(f"{reason}; it is required here because CI=true", pytrace=False)
    pytest.skip(reason)
