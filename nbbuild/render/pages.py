"""HTML pages and slide decks from nbconvert's own templates, at a third of the cost.

nbconvert's ``HTMLExporter`` (and ``SlidesExporter``, its subclass) renders the
template, then parses the whole page with BeautifulSoup to make three
accessibility edits, and serializes the tree again. For a short notebook that
round trip is about 60% of the export's CPU (12 of 19 ms for a page and a deck),
and export is the largest cost left in nbbuild's own process once kernels are
forked. Here the same three edits are made on the template's text:

- an ``<img>`` without ``alt`` gets nbconvert's "No description has been
  provided for this image";
- a ``<div>`` of class ``jp-Cell-inputWrapper`` or ``jp-OutputArea-output``
  inside the ``jp-Notebook`` body gets ``tabindex="0"``.

The text pass only acts where it can be sure it sees what an HTML parser sees:
outside ``<script>``, ``<style>`` and comments, in a body that ends once. Any page
with something it does not handle (other raw-text elements, CDATA, a stray
``</body>``, a duplicated attribute, an existing ``tabindex``) goes through the
stock pass unchanged, so the result is always the stock page's document: the
tests check that BeautifulSoup reads every page of the demo course and of a
notebook of awkward HTML to exactly the stock output.

Two smaller savings keep bytes identical: the notebook is validated once after
all preprocessors rather than after each (nbconvert's ``optimistic_validation``;
nbbuild has just produced and validated it), and code highlighting (Pygments) and
``clean_html`` (bleach), pure functions of their inputs, are remembered between the
page and the deck.
"""

from __future__ import annotations

import copy
import functools
import html as html_lib
import re
from typing import Any

from nbconvert import HTMLExporter, SlidesExporter
from nbconvert.exporters.templateexporter import TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.strings import clean_html
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

#: nbconvert's text for an image without one.
MISSING_ALT = "No description has been provided for this image"

_FOCUSABLE = frozenset({"jp-Cell-inputWrapper", "jp-OutputArea-output"})

# Text the fast pass never reads as markup, as an HTML parser skips it.
_OPAQUE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
# Elements whose content some Python versions' html.parser reads as raw text, and
# markup whose parsing differs between versions: such pages take the stock pass.
_UNSURE = re.compile(
    r"<(?:textarea|title|xmp|plaintext|noscript|iframe|noembed|noframes)\b"
    r"|<!(?!--)|<\?|--!>|</(?:body|html)\b|<(?:body|html)\b",
    re.I,
)
_TAG = re.compile(r"<([A-Za-z][^\s/>]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_ATTR = re.compile(r"""([^\s=/>"']+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s>"']*))?""")


class _Unsure(Exception):
    """The fast pass cannot tell what a parser would make of this page."""


def accessibility_pass(page: str) -> tuple[str, int] | None:
    """The page with nbconvert's accessibility edits and the number of images that
    lacked ``alt``; ``None`` when only a real parse can say (see the module doc)."""
    start = page.find("<body")
    end = page.rfind("</body>")
    if start < 0 or end < start:
        return None
    body_tag = _TAG.match(page, start)
    if body_tag is None or "jp-Notebook" not in _classes(_attributes(body_tag.group(2))):
        return None
    inner = page[body_tag.end():end]
    try:
        edited, missing = _edit_body(inner)
    except _Unsure:
        return None
    return page[:body_tag.end()] + edited + page[end:], missing


def _edit_body(text: str) -> tuple[str, int]:
    pieces: list[str] = []
    missing = 0
    position = 0
    for opaque in _OPAQUE.finditer(text):
        piece, count = _edit_markup(text[position:opaque.start()])
        pieces += [piece, opaque.group(0)]
        missing += count
        position = opaque.end()
    piece, count = _edit_markup(text[position:])
    pieces.append(piece)
    return "".join(pieces), missing + count


def _edit_markup(text: str) -> tuple[str, int]:
    """Edits in markup that holds no script, style or comment."""
    lowered = text.lower()
    if _UNSURE.search(text) or "<script" in lowered or "<style" in lowered or "<!--" in text:
        raise _Unsure  # an opening without its end, or a construct we leave to the parser
    missing = 0

    def edit(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1).lower()
        if name not in ("img", "div"):
            return match.group(0)
        raw = match.group(2)
        if "<" in raw:
            raise _Unsure  # unbalanced quotes, most likely
        attrs = _attributes(raw)
        if name == "img":
            if "alt" in attrs:
                return match.group(0)
            missing += 1
            return _with_attribute(match.group(0), f'alt="{MISSING_ALT}"')
        if not _FOCUSABLE & _classes(attrs):
            return match.group(0)
        if "tabindex" in attrs:
            raise _Unsure  # the stock pass overwrites it in place
        return _with_attribute(match.group(0), 'tabindex="0"')

    return _TAG.sub(edit, text), missing


def _attributes(raw: str) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for match in _ATTR.finditer(raw):
        name = match.group(1).lower()
        if name in attrs:
            raise _Unsure
        value = match.group(2) or ""
        if value[:1] in ("'", '"'):
            value = value[1:-1]
        attrs[name] = html_lib.unescape(value)
    return attrs


def _classes(attrs: dict[str, str]) -> frozenset[str]:
    return frozenset(attrs.get("class", "").split())


def _with_attribute(tag: str, attribute: str) -> str:
    """``tag`` with ``attribute`` last, before any self-closing slash."""
    inside = tag[:-1]
    if not inside.endswith("/"):
        return f"{inside.rstrip()} {attribute}>"
    if inside[-2:-1] not in (" ", '"', "'"):
        raise _Unsure  # `src=a/>`: is the slash part of the value?
    return f"{inside[:-1].rstrip()} {attribute}/>"


class _CheapPage:
    """Mixin for nbconvert's HTML exporters: the stock render, the text pass."""

    def from_notebook_node(self, nb: Any, resources: dict[str, Any] | None = None,
                           **kw: Any) -> tuple[str, dict[str, Any]]:
        exporter: Any = self
        given = copy.deepcopy(resources)
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        resources = exporter._init_resources(resources)
        exporter.register_filter("highlight_code", exporter.filters.get(
            "highlight_code", _RememberedHighlight(lexer, exporter)))
        exporter.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=exporter._nb_metadata, parent=exporter, resources=resources))
        page, resources = TemplateExporter.from_notebook_node(exporter, nb, resources, **kw)
        done = accessibility_pass(page)
        if done is None:  # rare: render again the stock way, parse and all
            return super().from_notebook_node(nb, given, **kw)  # type: ignore[misc]
        page, missing = done
        if missing:
            exporter.log.warning("Alternative text is missing on %s image(s).", missing)
        return page, resources


class PageExporter(_CheapPage, HTMLExporter):
    """nbconvert's HTML page, rendered with the cheap accessibility pass."""


class DeckExporter(_CheapPage, SlidesExporter):
    """nbconvert's reveal.js deck, rendered with the cheap accessibility pass."""


#: Inputs up to this size are remembered; larger ones are rare and would fill memory.
_REMEMBER_UP_TO = 64 * 1024


@functools.lru_cache(maxsize=512)
def _clean_html_cached(element: str) -> str:
    return clean_html(element)


def remembered_clean_html(element: Any) -> str:
    """bleach's sanitizing, once per distinct input (the page and the deck share it)."""
    if isinstance(element, str) and len(element) <= _REMEMBER_UP_TO:
        return _clean_html_cached(str(element))
    return clean_html(element)


_highlighted: dict[tuple[Any, ...], str] = {}


class _RememberedHighlight:
    """nbconvert's code highlighting, once per cell for the page and the deck.

    The result depends on the lexer, the source and, of the cell's metadata, only
    ``magics_language``; the two exporters keep their default highlighting options
    (nbbuild sets none), so they produce the same text.
    """

    def __init__(self, lexer: str | None, parent: Any) -> None:
        self._lexer = lexer
        self._highlight = Highlight2HTML(pygments_lexer=lexer, parent=parent)

    def __call__(self, source: str, language: str | None = None, metadata: Any = None) -> str:
        if len(source) > _REMEMBER_UP_TO:
            return self._highlight(source, language, metadata)
        magics = metadata.get("magics_language") if metadata else None
        key = (self._lexer, language, magics, source)
        if key not in _highlighted:
            if len(_highlighted) >= 512:
                _highlighted.clear()
            _highlighted[key] = self._highlight(source, language, metadata)
        return _highlighted[key]


def prepare(exporter: TemplateExporter) -> TemplateExporter:
    """Settings that leave the output identical and save work on every page."""
    exporter.optimistic_validation = True
    exporter.environment.filters["clean_html"] = remembered_clean_html
    return exporter
