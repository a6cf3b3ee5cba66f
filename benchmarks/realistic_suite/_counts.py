"""How many parametrised cases each scenario of a generated suite gets."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

__all__ = ["COUNTS_FILE", "cases"]

COUNTS_FILE = "counts.json"


@cache
def _counts(folder: str) -> dict[str, int]:
    path = Path(folder) / COUNTS_FILE
    if not path.exists():
        return {}
    loaded: dict[str, int] = json.loads(path.read_text())
    return loaded


def cases(module_file: str, scenario: str) -> range:
    """``range(count)`` of ``scenario`` from the ``counts.json`` next to ``module_file``.

    In the package itself (no ``counts.json``) every scenario has no cases.
    """
    return range(_counts(str(Path(module_file).parent)).get(scenario, 0))
