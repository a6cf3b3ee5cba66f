"""docs/adopting.md shows the examples' real code: each marked block equals its file."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- file: (?P<path>\S+) -->\n```python\n(?P<code>.*?)```", re.S)


def test_every_recipe_is_the_example_file_verbatim() -> None:
    """A recipe that drifts from its example (or an example that moves) fails here."""
    text = (REPO / "docs" / "adopting.md").read_text()
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 2
    for block in blocks:
        path = REPO / block["path"]
        assert path.is_file(), f"docs/adopting.md names {block['path']}, which does not exist"
        assert block["code"] == path.read_text(), f"docs/adopting.md's copy of {block['path']}"
