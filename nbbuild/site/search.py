"""The course's search index: a static script per variant (``_site/search*.js``)
that the search box of every page loads on first use. It works from ``file://``
and from any static host: no server, no WebAssembly, no fetch.

Each lecture page is read back once after it was written: its headings (with the
ids nbconvert gave them) split it into sections, and each section's words are
the text of its markdown and code cells; outputs are left out (a table of data
would drown the prose). Entries are also kept with each page's size and modification
time in a file beside the index (``_site/.nbbuild-search.json``, not published
content), so a later build reads again only the pages that changed; a no-op build
reads none and does not rewrite the index. The index itself holds no times: the
same course gives the same bytes.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

#: Words kept per page, at most (a generated lecture can be huge).
MAX_CHARS_PER_PAGE = 60_000
#: The opening tag of a cell (not of the wrappers inside it, ``jp-Cell-inputWrapper``).
_CELL = re.compile(r'<div (?:id="cell-id=[^"]*" )?class="jp-Cell[ "][^>]*>')
_HEADING = re.compile(r'<h([1-6])\b[^>]*?\bid="([^"]*)"[^>]*>(.*?)</h\1\s*>', re.S | re.I)
_OPAQUE = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_TAG = re.compile(r"<[^>]*>")
_ANCHOR = re.compile(r'<a class="anchor-link"[^>]*>.*?</a>', re.S)
_SPACE = re.compile(r"\s+")
PREFIX = "window.nbbuildSearch = "


def headings(page: str) -> list[tuple[int, str, str]]:
    """(level, id, text) of every heading in a page's cells, in order."""
    start = page.find("<main")
    body = page[start if start >= 0 else 0:]
    return [(int(m.group(1)), html.unescape(m.group(2)), _text(m.group(3)))
            for m in _HEADING.finditer(body)]


def page_entry(page: str, title: str) -> dict[str, Any]:
    """One lecture page's entry: its title and its sections as
    ``[heading, anchor, words]``; the first section (before any heading) has an
    empty anchor."""
    start = page.find("<main")
    end = page.rfind("</main>")
    body = page[start if start >= 0 else 0:end if end > start else len(page)]
    body = _OPAQUE.sub(" ", body)
    sections: list[list[str]] = [["", "", ""]]
    budget = MAX_CHARS_PER_PAGE
    for cell in _CELL.split(body)[1:]:
        cut = cell.find("jp-Cell-outputWrapper")
        source = cell if cut < 0 else cell[:cut]
        position = 0
        for match in _HEADING.finditer(source):
            budget = _add(sections[-1], source[position:match.start()], budget)
            sections.append([_text(match.group(3)), html.unescape(match.group(2)), ""])
            position = match.end()
        budget = _add(sections[-1], source[position:], budget)
    if not sections[0][2] and len(sections) > 1:
        sections.pop(0)
    return {"t": title, "s": sections}


def _add(section: list[str], markup: str, budget: int) -> int:
    if budget <= 0:
        return 0
    text = _text(markup)[:budget]
    if text:
        section[2] = f"{section[2]} {text}" if section[2] else text
    return budget - len(text)


def _text(markup: str) -> str:
    markup = _ANCHOR.sub("", markup)
    return _SPACE.sub(" ", html.unescape(_TAG.sub(" ", markup))).strip()


def read_stamps(path: Path) -> dict[str, Any]:
    """Entries kept by an earlier build, by page; empty if there are none or they
    cannot be read (then every page is read again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {url: entry for url, entry in data.items()
            if isinstance(entry, dict) and isinstance(entry.get("s"), list)}


def build_index(out: Path, pages: Iterable[tuple[PurePosixPath, str]],
                previous: dict[str, Any]) -> tuple[str, dict[str, Any], int]:
    """The index script for ``pages`` ((path under the output folder, lecture
    title), in course order), the entries with their stamps to keep for the next
    build, and how many pages had to be read."""
    entries = []
    kept: dict[str, Any] = {}
    read = 0
    for rel, title in pages:
        url = rel.as_posix()
        try:
            st = (out / rel).stat()
        except OSError:
            continue
        stamp = [st.st_size, st.st_mtime_ns]
        known = previous.get(url)
        if known is not None and known.get("m") == stamp and known.get("t") == title:
            entry = {"u": url, "t": title, "s": known["s"]}
        else:
            try:
                text = (out / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            read += 1
            entry = {"u": url, **page_entry(text, title)}
        entries.append(entry)
        kept[url] = {"m": stamp, "t": title, "s": entry["s"]}
    data = json.dumps({"pages": entries}, ensure_ascii=False, separators=(",", ":"))
    # "</" cannot end the script early when the index is inlined by a host.
    return PREFIX + data.replace("</", "<\\/") + ";\n", kept, read
