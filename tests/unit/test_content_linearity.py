"""Hostile input costs linear time in the importers and the renderer (issue 17).

Timing is never asserted as such (machines are noisy): each test compares the same
operation on an input and on one eight times its size, measured side by side (best of
five) in CPU time of the test's own thread, which other processes on a loaded machine do
not inflate as they do wall time (a CI run at load 10 saw a linear renderer "grow" 28x
in wall time). Linear work grows about eight times; the quadratic code these tests guard
against grew sixty-four times, so the bound of 24 separates them with a wide margin.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from glossator.importers import html_to_plain_text, normalize_html
from glossator.importers.conversations import render_markdown
from glossator.importers.conversations._render import INLINE_MARKDOWN_LIMIT
from glossator.importers.html import TITLE_SOURCE_LIMIT, find_title
from glossator.web._render import MarkRange, render_annotated_html

if TYPE_CHECKING:
    from collections.abc import Callable

_GROWTH_BOUND = 24


def _repeat(pattern: str, times: int) -> str:
    return pattern * times


def _best_of_five(work: Callable[[], object]) -> float:
    timings = []
    for _ in range(5):
        started = time.thread_time()
        work()
        timings.append(time.thread_time() - started)
    return min(timings)


def _growth(make: Callable[[int], str], run: Callable[[str], object], size: int) -> float:
    small, large = make(size), make(8 * size)
    return _best_of_five(lambda: run(large)) / max(_best_of_five(lambda: run(small)), 1e-6)


class TestTitle:
    def test_unclosed_titles_cost_linear_time(self) -> None:
        """``"<title>" * n`` took quadratic time (16,000 copies: 26 s); now it is linear."""
        assert find_title("<title>" * 16_000) is None
        growth = _growth(lambda n: "<title>" * n, find_title, 50_000)
        assert growth < _GROWTH_BOUND

    def test_titles_without_a_closing_bracket_cost_linear_time(self) -> None:
        """``<title`` without ``>`` anywhere after it: no title, in linear time."""
        assert find_title("<title" * 10_000) is None
        growth = _growth(lambda n: "<title" * n, find_title, 50_000)
        assert growth < _GROWTH_BOUND

    def test_only_the_start_of_a_huge_title_is_read(self) -> None:
        """A title of unterminated comments (quadratic for Python's HTML parser) is cut."""
        title = find_title("<title>" + "<!--a" * 100_000 + "</title>")
        assert title is None or len(title) <= TITLE_SOURCE_LIMIT
        huge = find_title("<title>" + "word " * 10_000 + "</title>")
        assert huge is not None
        assert len(huge) <= TITLE_SOURCE_LIMIT

    def test_titles_are_found_as_before(self) -> None:
        """The first title, case-insensitive, attributes allowed, markup turned to text."""
        assert normalize_html("<TITLE lang=en>A <b>b</b>\n c</title><title>x</title>").title == (
            "A b c"
        )
        assert normalize_html("<p>no title</p>").title is None
        assert normalize_html("<title>   </title>").title is None


class TestMarkdown:
    def test_unclosed_brackets_cost_linear_time(self) -> None:
        """``"[a" * n`` and ``"![[" * n`` rescanned from every bracket; now linear.

        Paragraphs just under the limit are the costliest input left: each is parsed, at
        a bounded cost, so the total grows with their number.
        """
        for pattern in ("[a", "![["):
            paragraph = pattern * (500 // len(pattern)) + "\n\n"
            growth = _growth(functools.partial(_repeat, paragraph), render_markdown, 4)
            assert growth < _GROWTH_BOUND, pattern

    def test_an_over_long_paragraph_is_plain_text(self) -> None:
        """Past the limit, a paragraph is shown as escaped text, Markdown and all."""
        text = "*not emphasis* [not a link](https://example.org) " * (INLINE_MARKDOWN_LIMIT // 40)
        rendered = render_markdown(text + "\n\nshort *emphasis*")
        assert "<em>not emphasis</em>" not in rendered
        assert "<a " not in rendered
        assert "*not emphasis* [not a link](https://example.org)" in rendered
        assert "<p>short <em>emphasis</em></p>" in rendered


class TestRenderer:
    def test_rendering_costs_linear_time_in_text_and_highlights(self) -> None:
        """Many paragraphs and many highlights: marks are found by binary search."""

        def make(n: int) -> str:
            return "".join(f"<p>paragraph {i} with <b>bold</b> words</p>" for i in range(n))

        def run(html: str) -> object:
            plain = html_to_plain_text(html)
            ranges = [MarkRange(i, i * 30, i * 30 + 20) for i in range(len(plain) // 40)]
            return render_annotated_html(html, plain, ranges)

        assert _growth(make, run, 1_000) < _GROWTH_BOUND
