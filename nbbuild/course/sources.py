"""Read course sources (``.ipynb`` and percent ``.py``) into notebooks.

Every failure becomes a ``SourceError`` naming the file and the reason, so one
bad file costs only itself. For percent ``.py`` files the line of each cell's
marker is kept, so errors can point at a line of the file the author edits.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import nbformat

from nbbuild.config import DEFAULT_MAX_SOURCE_MB
from nbbuild.course import languages
from nbbuild.errors import SourceError
from nbbuild.model import Source, SourceKind

DEFAULT_KERNEL = "python3"
_MARKER_LINE = re.compile(r"^#\s?%%")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|`)(.+?)\1")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_CELL_ID = re.compile(r"[a-zA-Z0-9-_]{1,64}")


@dataclass
class LoadedNotebook:
    """A parsed notebook, its kernel name, and (for ``.py``) each cell's first line.

    For a course with editions or languages (editions.py), ``nb`` is what runs on
    the kernel; ``full`` is the language's whole notebook (with cells that do not
    run), ``positions`` says where in ``full`` each cell of ``nb`` is, and
    ``cell_numbers`` gives each cell of ``nb`` its 1-based number in the source.
    """

    source: Source
    nb: nbformat.NotebookNode
    kernel_name: str
    cell_lines: list[int] | None = None
    cell_numbers: list[int] | None = None
    full: nbformat.NotebookNode | None = None
    positions: list[int] | None = None
    #: SHA-256 of the bytes parsed: what the cache records as built.
    digest: str = ""
    #: Why it runs on ``kernel_name`` rather than the kernel it declares (the
    #: ``kernel`` settings, kernel_choice.py); empty when it declares it.
    kernel_note: str = ""
    #: Warnings about the source itself (a ``# j2`` template line), said once per
    #: build that reads it.
    notes: tuple[str, ...] = ()

    def cell_number(self, index: int) -> int:
        """The 1-based number, in the source file, of cell ``index`` of ``nb``."""
        if self.cell_numbers is not None and 0 <= index < len(self.cell_numbers):
            return self.cell_numbers[index]
        return index + 1

    @property
    def title(self) -> str:
        """The first markdown heading, else the file name."""
        for cell in self.nb.cells:
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("#"):
                        return plain_text(line.lstrip("#").strip()) or self.source.stem.name
        return self.source.stem.name


def plain_text(markdown: str) -> str:
    """A heading without its inline markup (links, emphasis, code ticks, inline
    HTML tags) and with HTML entities decoded: ``&nbsp;`` is a space in a title."""
    text = _LINK.sub(r"\1", markdown)
    previous = None
    while previous != text:
        previous, text = text, _EMPHASIS.sub(r"\2", text)
    text = html.unescape(_TAG.sub("", text))
    return " ".join(text.split())


#: Deeper JSON is refused: parsing, validating and rendering recurse per level.
MAX_JSON_DEPTH = 200


def load(source: Source, max_bytes: int = int(DEFAULT_MAX_SOURCE_MB * 2**20),
         kernels: dict[str, str] | None = None) -> LoadedNotebook:
    """Parse ``source`` and validate it as nbformat 4. ``kernels`` (the setting:
    kernel by extension) names the kernel of a percent source without a header."""
    text, digest = _read_text(source, max_bytes)
    cell_lines = None
    if source.kind is SourceKind.IPYNB:
        nb = _parse_ipynb(source, text)
    else:
        nb = _parse_percent(source, text, kernels or {})
        cell_lines = _cell_lines(text, len(nb.cells), source.rel.suffix)
    kernel_name = (nb.metadata.get("kernelspec") or {}).get("name") or DEFAULT_KERNEL
    notes = template_lines(source, text) if source.kind is SourceKind.PERCENT else ()
    return LoadedNotebook(source, nb, kernel_name, cell_lines, digest=digest, notes=notes)


_J2_LINE = re.compile(r"^\s*(?:#|//)\s*j2\b")


def template_lines(source: Source, text: str) -> tuple[str, ...]:
    """A note for a source written for the course tool nbbuild replaces, whose
    ``# j2`` lines were Jinja, expanded before the file became a notebook.
    nbbuild does not expand them: they stay comments in a code cell."""
    lines = [n for n, line in enumerate(text.splitlines(), 1) if _J2_LINE.match(line)]
    if not lines:
        return ()
    more = f" (and {len(lines) - 1} more: lines {', '.join(map(str, lines[1:6]))}" \
        f"{', ...' if len(lines) > 6 else ''})" if len(lines) > 1 else ""
    return (f"{source.rel}, line {lines[0]}{more}: a '# j2' Jinja template line, from the "
            "course tool nbbuild replaces. nbbuild does not expand templates, so it shows "
            "as a comment in a code cell: replace it with the markdown or code it produced, "
            "or delete it",)


def _read_text(source: Source, max_bytes: int) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes, from a regular file only."""
    try:
        data = read_regular(source.path, max_bytes, str(source.rel))
    except FileNotFoundError:
        raise SourceError(source.key, "file disappeared before it could be read") from None
    except OSError as exc:
        raise SourceError(source.key, f"cannot be read: {exc.strerror}") from None
    if not data.strip():
        raise SourceError(source.key, "file is empty")
    try:
        return data.decode("utf-8-sig"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as exc:
        raise SourceError(
            source.key, f"not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})"
        ) from None


def read_regular(path: Path, max_bytes: int, rel: str) -> bytes:
    """The bytes of ``path``, which must be a regular file of at most ``max_bytes``.

    Opened without blocking, so a FIFO given a notebook's name cannot hang the
    build, and checked on the open file, so it cannot be swapped in between."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(rel, "not a regular file (a FIFO, socket or device); skipped")
        if st.st_size > max_bytes:
            raise SourceError(
                rel, f"{st.st_size / 2**20:.1f} MB, over the {max_bytes / 2**20:g} MB limit on "
                "sources (max_source_mb)")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise SourceError(rel, f"over the {max_bytes / 2**20:g} MB limit on sources (max_source_mb)")
    return data


def _parse_ipynb(source: Source, text: str) -> nbformat.NotebookNode:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            source.key, f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    except RecursionError:
        raise SourceError(source.key, "JSON nested too deeply to read") from None
    depth = _depth(raw)
    if depth > MAX_JSON_DEPTH:
        raise SourceError(
            source.key, f"JSON nested {depth} levels deep; notebooks may nest at most "
            f"{MAX_JSON_DEPTH}")
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise SourceError(source.key, "JSON but not a notebook (no 'cells')")
    if _normalise(raw):
        text = json.dumps(raw)
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise SourceError(source.key, f"invalid notebook: {exc.message}") from None
    except Exception as exc:  # nbformat raises a variety of errors on odd input
        raise SourceError(source.key, f"invalid notebook: {exc}") from None
    return nb


def _normalise(nb: dict) -> bool:
    """Odd but usable notebooks as Jupyter and nbconvert take them: cell ids in an
    nbformat 4.4 file (written by newer tools) make it 4.5; missing ``metadata``
    (of the notebook and its cells), ``outputs`` and ``execution_count`` are
    added; a missing, duplicate or invalid cell id of a 4.5 notebook is replaced
    by one from the cell's position. Returns whether anything changed."""
    cells = nb.get("cells")
    if not isinstance(cells, list) or nb.get("nbformat") != 4:
        return False  # not a notebook validation can read: it says why
    changed = _add_missing(nb, "metadata", {})
    minor = nb.get("nbformat_minor", 0)
    if isinstance(minor, int) and minor < 5 and any(isinstance(c, dict) and "id" in c
                                                    for c in cells):
        nb["nbformat_minor"] = minor = 5
        changed = True
    seen: set[str] = set()
    for i, cell in enumerate(cells, 1):
        if not isinstance(cell, dict):
            continue
        changed |= _add_missing(cell, "metadata", {})
        if cell.get("cell_type") == "code":
            changed |= _add_missing(cell, "outputs", [])
            changed |= _add_missing(cell, "execution_count", None)
        if isinstance(minor, int) and minor >= 5:
            cell_id = cell.get("id")
            if not isinstance(cell_id, str) or not _CELL_ID.fullmatch(cell_id) or cell_id in seen:
                cell["id"] = cell_id = f"cell-{i}"
                changed = True
            seen.add(cell_id)
    return changed


def _add_missing(item: dict, key: str, value: object) -> bool:
    if key in item:
        return False
    item[key] = value
    return True


def _depth(value: object) -> int:
    """How deeply ``value`` nests lists and objects (without recursing)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _parse_percent(source: Source, text: str, kernels: dict[str, str]) -> nbformat.NotebookNode:
    import jupytext

    extension = source.rel.suffix
    try:
        nb = jupytext.reads(text, fmt={"extension": extension, "format_name": "percent"})
    except Exception as exc:
        raise SourceError(source.key, f"cannot be read as a percent notebook: {exc}") from None
    nb = nbformat.from_dict(nb)
    # jupytext leaves ids to nbformat, which makes random ones: every build of
    # the same file would then differ. Ids from the cell's position are stable.
    for i, cell in enumerate(nb.cells, 1):
        cell["id"] = f"cell-{i}"
    # A script without a jupytext header names no kernel; it runs on the one for
    # its language, and the executed notebook must say so, or Jupyter asks the student.
    if not (nb.metadata.get("kernelspec") or {}).get("name"):
        nb.metadata["kernelspec"] = languages.kernelspec(extension, kernels)
    return nb


def _cell_lines(text: str, n_cells: int, extension: str = ".py") -> list[int] | None:
    """1-based line of each cell's ``# %%`` marker (cell source starts below it).

    Text before the first marker that is not the jupytext header becomes a cell
    of its own; it gets line 0, so its line N is line N of the file.
    """
    pattern = languages.marker(extension) or _MARKER_LINE
    markers = [i for i, line in enumerate(text.splitlines(), 1) if pattern.match(line)]
    if len(markers) == n_cells:
        return markers
    if len(markers) + 1 == n_cells:
        return [0, *markers]
    return None
