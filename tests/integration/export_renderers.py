"""LaTeX renderers for worker tests, loaded with ``glossator worker --renderer``.

:func:`render` is the built-in layout, except for documents whose title starts with a
marker: ``[broken]`` adds an undefined command (the document cannot compile) and
``[slow]`` adds a busy loop of a few seconds to the compilation (so a test can act while
the job runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from glossator.export.latex import render_latex

if TYPE_CHECKING:
    from glossator.export.latex import ExportDocument

__all__ = ["BROKEN", "SLOW", "UNDEFINED_COMMAND", "render"]

BROKEN: Final = "[broken]"
SLOW: Final = "[slow]"
UNDEFINED_COMMAND: Final = r"\glossatorTestUndefinedCommand"
# About 7 million iterations a second on an idle 2-core machine: about 3 s of TeX.
_BUSY_LOOP: Final = (
    r"\newcount\glossatorSpin \glossatorSpin=0 "
    r"\loop\advance\glossatorSpin by 1 \ifnum\glossatorSpin<20000000 \repeat "
)


def render(document: ExportDocument) -> str:
    """The built-in LaTeX, broken or slowed down as the document's title asks."""
    source = render_latex(document)
    marker = "\\begin{document}\n"
    if document.title.startswith(BROKEN):
        source = source.replace(marker, marker + UNDEFINED_COMMAND + "\n", 1)
    if document.title.startswith(SLOW):
        source = source.replace(marker, marker + _BUSY_LOOP + "\n", 1)
    return source
