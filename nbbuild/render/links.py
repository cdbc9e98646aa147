"""Links between lectures, rewritten for each output and checked after the build.

An author links lectures as files of the course: ``[next](02-numbers.py)`` or
``[see](../part2/intro.ipynb#loops)``. In a page that link must open the other
lecture's page, in a deck its deck, in an executed notebook its ``.ipynb``, and in
each edition and language the same edition and language. Links to the course index
(``index.html`` at the course's top) open the built index. Links to other course
files (data, images) already work: every output folder mirrors the course.

A relative link that leads to nothing the build produces is a problem, named with
the source file, the cell and the target; ``strict`` makes problems fail the build.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from nbbuild.config import Settings
from nbbuild.model import Course, Source
from nbbuild.render.layout import INDEX, output_key, outputs_of, relative_url

#: ``[text](target "title")`` and ``<a href="target">`` / ``<img src="target">`` in markdown.
_MARKDOWN_LINK = re.compile(r"(\]\()(<[^>]*>|[^)\s]+)((?:\s+\"[^\"]*\")?\))")
_HTML_LINK = re.compile(r"""(\b(?:href|src)\s*=\s*)(["'])(.*?)\2""", re.IGNORECASE)


@dataclass
class LinkMap:
    """What a link in a course file may lead to, for one build."""

    settings: Settings
    course: Course
    #: Problems found while rewriting: (source key, cell number, target) -> message.
    problems: dict[tuple[str, int, str], str] = field(default_factory=dict)
    #: Sources (store keys) whose links were looked at in this build.
    rewritten: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._sources: dict[tuple[str, str | None], Source] = {
            (s.rel.as_posix(), s.lang): s for s in self.course.sources}
        self._files = {a.as_posix() for a in self.course.assets}

    def rewrite(self, nb: Any, source: Source, edition: str | None, fmt: str,
                here: PurePosixPath, numbers: list[int] | None = None) -> Any:
        """``nb`` (one output's notebook) with its lecture links pointing at outputs;
        ``here`` is that output's path under the output folder. ``numbers`` gives each
        cell's number in the source file, for messages."""
        self.rewritten.add(source.key)
        changed = None
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown" or ("](" not in cell.source and "=" not in cell.source):
                continue
            number = _number(cell, i, numbers)
            text = self._rewrite_text(cell.source, source, edition, fmt, here, number)
            if text != cell.source:
                if changed is None:
                    import copy

                    changed = copy.copy(nb)
                    changed.cells = list(nb.cells)
                changed.cells[i] = cell.__class__({**cell, "source": text})
        return changed if changed is not None else nb

    def _rewrite_text(self, text: str, source: Source, edition: str | None, fmt: str,
                      here: PurePosixPath, number: int) -> str:
        def markdown(m: re.Match) -> str:
            target = m.group(2)
            bare = target[1:-1] if target.startswith("<") else target
            new = self._target(bare, source, edition, fmt, here, number)
            return m.group(1) + (new if new != bare else target) + m.group(3)

        def html(m: re.Match) -> str:
            new = self._target(m.group(3), source, edition, fmt, here, number)
            return m.group(1) + m.group(2) + new + m.group(2)

        return _HTML_LINK.sub(html, _MARKDOWN_LINK.sub(markdown, text))

    def _target(self, target: str, source: Source, edition: str | None, fmt: str,
                here: PurePosixPath, number: int) -> str:
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or target.startswith(("#", "/")) or not parts.path:
            return target
        resolved = posixpath.normpath(posixpath.join(source.rel.parent.as_posix(),
                                                     unquote(parts.path)))
        anchor = f"#{parts.fragment}" if parts.fragment else ""
        linked = self._sources.get((resolved, source.lang))
        if linked is not None:
            key = output_key(source.lang, edition, fmt) if self.settings.variants else fmt
            out = outputs_of(self.settings, linked).get(key)
            if out is not None:
                return relative_url(out, here) + anchor
        if resolved == str(INDEX) and resolved not in self._files:
            return relative_url(INDEX, here) + anchor
        if resolved in self._files or self._is_folder(resolved):
            return target  # a course file: every output folder mirrors the course
        self.problems.setdefault(
            (source.key, number, target),
            f"{source.rel}: cell {number} links to {target}, which is not in the course")
        return target

    def _is_folder(self, resolved: str) -> bool:
        prefix = resolved.rstrip("/") + "/"
        return any(f.startswith(prefix) for f in self._files)


def _number(cell: Any, index: int, numbers: list[int] | None) -> int:
    """The cell's number in its source file: given, or from a percent cell's stable
    id (``cell-N``), else its position."""
    if numbers and index < len(numbers):
        return numbers[index]
    match = re.fullmatch(r"cell-(\d+)", str(cell.get("id", "")))
    return int(match.group(1)) if match else index + 1


def _attributes(data: bytes) -> list[bytes]:
    """The values of ``href="…"`` and ``src="…"`` in a page that name a file (not
    ``#anchor`` or ``?query`` alone). ``bytes.find`` rather than a regular
    expression: pages carry hundreds of kilobytes of inline CSS, and this is 3x
    faster on them."""
    found = []
    for needle in (b"href=", b"src=", b"HREF=", b"SRC="):
        at = data.find(needle)
        while at >= 0:
            start = at + len(needle)
            quote = data[start:start + 1]
            if quote in (b'"', b"'"):
                end = data.find(quote, start + 1)
                value = data[start + 1:end] if end > 0 else b""
                if value and value[:1] not in (b"#", b"?"):
                    found.append(value)
            at = data.find(needle, start)
    return found


def broken_in_pages(out: Path, pages: list[PurePosixPath]) -> tuple[int, list[tuple[str, str]]]:
    """How many local links and asset references the built pages hold, and the
    (page, target) of each that leads to no file."""
    found = []
    checked = 0
    for page in pages:
        targets = _local_targets(out / page)
        checked += len(targets)
        for target, relative in targets:
            if not os.path.exists(os.path.normpath(os.path.join(out, page.parent, relative))):
                found.append((str(page), target))
    return checked, found


#: Local targets of pages already read, by path, with the (mtime, size) read: a
#: watch session reads again only the pages a rebuild wrote.
_TARGETS: dict[str, tuple[tuple[int, int], list[tuple[str, str]]]] = {}


def _local_targets(path: Path) -> list[tuple[str, str]]:
    """(target as written, its path part) of every local link of a page, once each."""
    try:
        st = path.stat()
    except OSError:
        return []
    stamp = (st.st_mtime_ns, st.st_size)
    known = _TARGETS.get(str(path))
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        data = path.read_bytes()
    except OSError:
        return []
    targets: dict[str, str] = {}
    for raw in _attributes(data):
        target = raw.decode("utf-8", "replace")
        parts = urlsplit(target)
        if not (parts.scheme or parts.netloc or target.startswith("/")):
            targets.setdefault(target, unquote(parts.path))
    if len(_TARGETS) > 20_000:
        _TARGETS.clear()
    _TARGETS[str(path)] = (stamp, list(targets.items()))
    return _TARGETS[str(path)][1]
