"""Normalise and sanitise HTML, and derive the plain text highlights point into.

Every importer ends here: LibreOffice's HTML (from RTF), the conversation renderer's HTML
and uploaded HTML all go through :func:`normalize_html`, which returns a
:class:`NormalizedDocument`: the sanitised HTML that is shown, and the plain text whose
character offsets (Python ``str`` indices, i.e. code points) highlights store.

Sanitising is nh3's (the Rust ``ammonia`` library): an allow-list of tags and attributes,
not hand-written patterns. Everything else is removed: ``<script>``, ``<style>``,
``<title>`` and similar elements together with their content; other unknown tags (LibreOffice's
``<font>``, ``<span>``) while keeping their text; every event handler and ``style``
attribute; every URL whose scheme is not ``http``, ``https`` or ``mailto`` (so
``javascript:`` links lose their target). Relative URLs are dropped too, except in-page
``#fragment`` links (footnotes), which are kept and prefixed like the ids they point to
(``doc-``), so a document's ids can never collide with, or clobber, the page's own.

The plain text is a pure function of the sanitised HTML:

* each block element (paragraph, heading, list item, table cell, ``<br>``, ...) starts a
  new line; empty blocks produce no line;
* outside ``<pre>``, runs of spaces, tabs and newlines collapse to one space and lines are
  stripped; inside ``<pre>`` the text is kept as it is, line by line;
* character references are decoded; non-breaking spaces stay as they are.

Both functions are deterministic: the same input gives the same bytes on every run.
"""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser
from typing import Final

import nh3

from glossator.importers.errors import InvalidImport

__all__ = [
    "ALLOWED_TAGS",
    "BLOCK_TAGS",
    "DROPPED_WITH_CONTENT",
    "HTML_WHITESPACE",
    "ID_PREFIX",
    "TITLE_SOURCE_LIMIT",
    "NormalizedDocument",
    "find_title",
    "html_to_plain_text",
    "normalize_html",
    "sanitize_html",
]

#: Prefix given to every ``id``/``name`` in imported documents (and to ``#fragment`` links).
ID_PREFIX: Final = "doc-"

#: The elements sanitised HTML may contain; all others are unwrapped or removed.
ALLOWED_TAGS: Final = frozenset(
    {
        "a", "abbr", "article", "b", "blockquote", "br", "caption", "cite", "code", "dd",
        "del", "div", "dl", "dt", "em", "figcaption", "figure", "footer", "h1", "h2", "h3",
        "h4", "h5", "h6", "header", "hr", "i", "ins", "kbd", "li", "mark", "ol", "p", "pre",
        "q", "s", "samp", "section", "small", "strong", "sub", "sup", "table", "tbody",
        "td", "tfoot", "th", "thead", "tr", "u", "ul",
    }
)  # fmt: skip

# Elements removed together with their content (not just unwrapped).
DROPPED_WITH_CONTENT: Final = frozenset(
    {
        "script", "style", "title", "template", "noscript", "iframe", "object", "embed",
        "svg", "math", "textarea", "select", "button", "noembed", "noframes", "xmp",
    }
)  # fmt: skip

_GLOBAL_ATTRIBUTES: Final = frozenset({"id", "lang", "dir", "title"})
_ATTRIBUTES: Final = {
    "*": set(_GLOBAL_ATTRIBUTES),
    "a": {"href", "name"},
    "abbr": set(),
    "article": {"class", "data-format"},
    "section": {"class", "data-role"},
    "header": {"class"},
    "h1": {"class"},
    "h2": {"class"},
    "ul": {"class"},
    "div": {"class"},
    "p": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "ol": {"start", "type", "reversed"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_URL_SCHEMES: Final = frozenset({"http", "https", "mailto"})

# Classes the conversation renderer emits, plus markdown-it's ``language-*`` on code.
_ALLOWED_CLASSES: Final = frozenset(
    {"conversation", "turn", "turn-author", "turn-body", "attachments"}
)  # fmt: skip
_LANGUAGE_CLASS: Final = re.compile(r"language-[A-Za-z0-9_+#.-]{1,40}")
_ALLOWED_VALUES: Final = {
    "dir": frozenset({"ltr", "rtl", "auto"}),
    "type": frozenset({"1", "a", "A", "i", "I"}),
    "scope": frozenset({"row", "col", "rowgroup", "colgroup"}),
}
_NUMBER: Final = re.compile(r"[0-9]{1,4}")
_SAFE_TOKEN: Final = re.compile(r"[A-Za-z0-9_.:-]{1,100}")


def _filter_attribute(element: str, attribute: str, value: str) -> str | None:
    """Keep, rewrite or drop one attribute that the allow-list let through."""
    if attribute in {"id", "name"}:
        return _prefixed(value) if _SAFE_TOKEN.fullmatch(value) else None
    if attribute == "class":
        kept = [
            name
            for name in value.split()
            if name in _ALLOWED_CLASSES or _LANGUAGE_CLASS.fullmatch(name)
        ]
        return " ".join(kept) or None
    if attribute in _ALLOWED_VALUES:
        return value if value in _ALLOWED_VALUES[attribute] else None
    if attribute in {"colspan", "rowspan", "start"}:
        return value if _NUMBER.fullmatch(value) else None
    if attribute.startswith("data-"):
        return value if _SAFE_TOKEN.fullmatch(value) else None
    del element  # every other attribute is allowed as it is, whatever the element
    return value


def _prefixed(token: str) -> str:
    return token if token.startswith(ID_PREFIX) else ID_PREFIX + token


def _relative_url(url: str) -> str | None:
    # Only in-page links survive (footnote anchors); they follow the prefixed ids.
    if url.startswith("#") and _SAFE_TOKEN.fullmatch(url[1:]):
        return "#" + _prefixed(url[1:])
    return None


_CLEANER: Final = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes=_ATTRIBUTES,
    attribute_filter=_filter_attribute,
    strip_comments=True,
    link_rel="noopener noreferrer nofollow",
    url_schemes=set(_URL_SCHEMES),
    url_relative=_relative_url,
)


def sanitize_html(html: str) -> str:
    """Remove everything from ``html`` that is not on glossator's allow-list.

    Accepts a fragment or a whole document (only the body's content is kept). Idempotent:
    sanitising sanitised HTML returns it unchanged.

    Args:
        html: Untrusted HTML.

    Returns:
        An HTML fragment safe to insert into glossator's pages.
    """
    # A NUL byte is never meaningful in HTML; html5ever would turn it into U+FFFD.
    html = html.replace("\x00", "")
    try:
        return _CLEANER.clean(html).strip()
    except UnicodeEncodeError as exc:
        # A lone surrogate (JSON's "\ud800" escape, say) is no text at all, and neither
        # the sanitiser nor the database can hold it: refuse the file, naming the place.
        bad = exc.object[exc.start : exc.end].encode("unicode_escape").decode()
        msg = (
            f"the file's text holds {bad} at character {exc.start + 1}, which is not a valid "
            "Unicode character (a lone surrogate); fix or re-export the file"
        )
        raise InvalidImport(msg) from None


# ----------------------------------------------------------------------------- plain text

# Elements whose start and end are line boundaries in the plain text.
BLOCK_TAGS: Final = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr", "ul", "body", "html",
    }
)  # fmt: skip
HTML_WHITESPACE: Final = re.compile(r"[ \t\n\r\f]+")


class _PlainTextExtractor(HTMLParser):
    """Collects lines of text, breaking at block boundaries (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._pieces: list[str] = []
        self._pre_depth = 0
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self._skip_depth += 1
        elif tag == "br":
            self._end_line(keep_empty=self._pre_depth > 0)
        elif tag in BLOCK_TAGS:
            self._end_line()
            if tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._end_line(keep_empty=self._pre_depth > 0)
        elif tag in BLOCK_TAGS:
            self._end_line()

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_WITH_CONTENT:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in BLOCK_TAGS:
            self._end_line()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._skip_depth:
            return
        if self._pre_depth:
            self._pieces.append(data)
        else:
            self._pieces.append(HTML_WHITESPACE.sub(" ", data))

    def _end_line(self, *, keep_empty: bool = False) -> None:
        text = "".join(self._pieces)
        self._pieces.clear()
        if self._pre_depth:
            # A newline right after <pre> belongs to the markup, not the text (HTML spec).
            lines = text.removeprefix("\n").removesuffix("\n").split("\n")
            if text or keep_empty:
                self.lines.extend(line.rstrip("\r") for line in lines)
            return
        line = HTML_WHITESPACE.sub(" ", text).strip(" ")
        if line:
            self.lines.append(line)

    def close(self) -> None:
        super().close()
        self._end_line()


def html_to_plain_text(html: str) -> str:
    """The text of ``html``, one line per block (see the module docstring).

    Highlights store offsets into this string, so it must never change for a stored
    document: the rules here are part of the data format.

    Args:
        html: Sanitised HTML (any HTML works; scripts and styles are skipped).

    Returns:
        The text, lines joined with ``"\\n"``, without a trailing newline.
    """
    extractor = _PlainTextExtractor()
    extractor.feed(html)
    extractor.close()
    return "\n".join(extractor.lines)


@dataclasses.dataclass(frozen=True, slots=True)
class NormalizedDocument:
    """An imported document, ready for :func:`glossator.services.add_document`.

    Attributes:
        title: A title found in the source (``<title>``, the conversation's name), or
            ``None``; callers fall back to the file name.
        html: Sanitised HTML.
        plain_text: The text highlights point into (``html_to_plain_text(html)``).
    """

    title: str | None
    html: str
    plain_text: str


# Searched for separately, in linear time: the single pattern
# ``<title[^>]*>(.*?)</title`` retried its lazy scan from every "<title" when "</title" is
# missing, so 16,000 repetitions of "<title>" (112 KB) took half a minute.
_TITLE_OPEN: Final = re.compile(r"<title", re.IGNORECASE)
_TITLE_CLOSE: Final = re.compile(r"</title", re.IGNORECASE)
#: The most characters of a ``<title>`` element read (stored titles are 200 at most);
#: it also bounds the HTML parser, which is quadratic on some malformed input.
TITLE_SOURCE_LIMIT: Final = 2000


def find_title(html: str) -> str | None:
    """The text of the document's first ``<title>`` element, or ``None``.

    Runs in linear time whatever the input: if the first ``<title`` has no ``>`` or no
    ``</title`` after it, no later one can have them either. Only the first
    :data:`TITLE_SOURCE_LIMIT` characters of the element are read.
    """
    opening = _TITLE_OPEN.search(html)
    if opening is None:
        return None
    content_start = html.find(">", opening.end()) + 1
    if content_start == 0:
        return None
    closing = _TITLE_CLOSE.search(html, content_start)
    if closing is None:
        return None
    source = html[content_start : min(closing.start(), content_start + TITLE_SOURCE_LIMIT)]
    return html_to_plain_text(source).strip() or None


def normalize_html(html: str, *, title: str | None = None) -> NormalizedDocument:
    """Sanitise ``html`` and derive its plain text.

    Args:
        html: Untrusted HTML, a fragment or a whole document.
        title: The document's title if the caller knows it; otherwise the text of the
            document's ``<title>``, if it has a non-empty one.

    Returns:
        The sanitised HTML, its plain text and the title.
    """
    if title is None:
        title = find_title(html)
    clean = sanitize_html(html)
    return NormalizedDocument(title=title, html=clean, plain_text=html_to_plain_text(clean))
