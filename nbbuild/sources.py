"""Read course sources (``.ipynb`` and percent ``.py``) into notebooks.

Every failure becomes a ``SourceError`` naming the file and the reason, so one
bad file costs only itself. For percent ``.py`` files the line of each cell's
marker is kept, so errors can point at a line of the file the author edits.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import nbformat

from .errors import SourceError
from .model import Source, SourceKind

DEFAULT_KERNEL = "python3"
_MARKER_LINE = re.compile(r"^#\s?%%")
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"(\*{1,3}|_{1,3}|`)(.+?)\1")


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
    """A heading without its inline markup: links, emphasis, code ticks."""
    text = _LINK.sub(r"\1", markdown)
    previous = None
    while previous != text:
        previous, text = text, _EMPHASIS.sub(r"\2", text)
    return text.strip()


def load(source: Source) -> LoadedNotebook:
    """Parse ``source`` and validate it as nbformat 4."""
    text, digest = _read_text(source)
    cell_lines = None
    if source.kind is SourceKind.IPYNB:
        nb = _parse_ipynb(source, text)
    else:
        nb = _parse_percent(source, text)
        cell_lines = _cell_lines(text, len(nb.cells))
    kernel_name = (nb.metadata.get("kernelspec") or {}).get("name") or DEFAULT_KERNEL
    return LoadedNotebook(source, nb, kernel_name, cell_lines, digest=digest)


def _read_text(source: Source) -> tuple[str, str]:
    """The file's text and the SHA-256 of its bytes."""
    try:
        data = source.path.read_bytes()
    except FileNotFoundError:
        raise SourceError(str(source.rel), "file disappeared before it could be read") from None
    except OSError as exc:
        raise SourceError(str(source.rel), f"cannot be read: {exc.strerror}") from None
    if not data.strip():
        raise SourceError(str(source.rel), "file is empty")
    try:
        return data.decode("utf-8-sig"), hashlib.sha256(data).hexdigest()
    except UnicodeDecodeError as exc:
        raise SourceError(
            str(source.rel), f"not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})"
        ) from None


def _parse_ipynb(source: Source, text: str) -> nbformat.NotebookNode:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(
            str(source.rel), f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise SourceError(str(source.rel), "JSON but not a notebook (no 'cells')")
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        raise SourceError(str(source.rel), f"invalid notebook: {exc.message}") from None
    except Exception as exc:  # nbformat raises a variety of errors on odd input
        raise SourceError(str(source.rel), f"invalid notebook: {exc}") from None
    return nb


def _parse_percent(source: Source, text: str) -> nbformat.NotebookNode:
    import jupytext

    try:
        nb = jupytext.reads(text, fmt="py:percent")
    except Exception as exc:
        raise SourceError(str(source.rel), f"cannot be read as a percent notebook: {exc}") from None
    nb = nbformat.from_dict(nb)
    # jupytext leaves ids to nbformat, which makes random ones: every build of
    # the same file would then differ. Ids from the cell's position are stable.
    for i, cell in enumerate(nb.cells, 1):
        cell["id"] = f"cell-{i}"
    return nb


def _cell_lines(text: str, n_cells: int) -> list[int] | None:
    """1-based line of each cell's ``# %%`` marker (cell source starts below it).

    Text before the first marker that is not the jupytext header becomes a cell
    of its own; it gets line 0, so its line N is line N of the file.
    """
    markers = [i for i, line in enumerate(text.splitlines(), 1) if _MARKER_LINE.match(line)]
    if len(markers) == n_cells:
        return markers
    if len(markers) + 1 == n_cells:
        return [0, *markers]
    return None
