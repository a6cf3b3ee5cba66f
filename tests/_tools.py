"""When an external program a test needs is missing: skip locally, fail in CI.

A developer without LibreOffice (or latexmk, Chromium, ...) should still be able to run
the suite: such tests skip and say what to install. In CI a skip would hide a broken
setup, so there the same tests fail, unless the program is one CI deliberately does not
install; such a program names an opt-in flag, and only a CI run that sets it requires
the program (see docs/importers.md for LibreOffice's).
"""

from __future__ import annotations

import os
import shutil

import pytest

__all__ = ["in_ci", "require_tool"]


def in_ci() -> bool:
    """Whether the tests run in CI (the ``CI`` variable is ``true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() == "true"


def require_tool(name: str, *, install_hint: str, ci_env_flag: str | None = None) -> str:
    """Return the path of program ``name``, or skip or fail the calling test.

    Policy when the program is not on ``PATH``:

    * outside CI: skip, with a reason naming ``install_hint``;
    * in CI (``CI=true``) without ``ci_env_flag``: fail (a missing tool is a broken setup);
    * in CI with ``ci_env_flag``: fail only if that variable is ``1``, else skip. For
      heavy programs CI does not install unless a job opts in.

    Args:
        name: The program, e.g. ``"soffice"``.
        install_hint: The command that installs it, e.g.
            ``"apt-get install libreoffice-writer-nogui"``.
        ci_env_flag: The variable that makes the program required in CI.

    Returns:
        The program's absolute path.
    """
    path = shutil.which(name)
    if path is not None:
        return path
    required = in_ci() and (ci_env_flag is None or os.environ.get(ci_env_flag) == "1")
    reason = f"{name} is not installed (install it with: {install_hint})"
    if required:
        why = f"{ci_env_flag}=1" if ci_env_flag else "CI=true"
        pytest.fail(f"{reason}; it is required here because {why}", pytrace=False)
    pytest.skip(reason)
