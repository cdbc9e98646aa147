"""A lecture whose code failed still gets its page, deck and notebook
(``failed_pages = "banner"``): every cell up to and including the one that failed,
with its traceback, under a banner that says so. The author sees where it broke
in context, in the preview and in the build; a published build can leave such
lectures out (``failed_pages = "omit"``).
"""

from __future__ import annotations

import copy
import html

import nbformat

from nbbuild.course.labels import label
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import CellError, NotebookError

#: The banner cell's id and tag (pages style it; a reader can find it).
BANNER = "nbbuild-failed"
_STYLE = ("border:2px solid #b00020;background:#fdecea;color:#5f0010;padding:.6em 1em;"
          "margin:.5em 0 1em;border-radius:4px")


def failed_view(loaded: LoadedNotebook, error: NotebookError) -> LoadedNotebook:
    """The notebook to render for a failure: cut after the failing cell (all of it
    when no cell failed: over a strict budget), with the banner first."""
    stop = failing_index(loaded, error)
    cells = list(loaded.nb.cells) if stop is None else list(loaded.nb.cells[: stop + 1])
    nb = copy.copy(loaded.nb)
    nb.cells = [banner_cell(error, loaded.source.lang), *cells]
    full = positions = None
    if loaded.full is not None and loaded.positions is not None:
        kept = loaded.positions[: len(cells)]
        end = kept[-1] + 1 if stop is not None and kept else len(loaded.full.cells)
        full = copy.copy(loaded.full)
        full.cells = [nb.cells[0], *loaded.full.cells[:end]]
        positions = [0, *(p + 1 for p in kept)]
    numbers = [0, *(loaded.cell_number(i) for i in range(len(cells)))]
    lines = None if loaded.cell_lines is None else [0, *loaded.cell_lines[: len(cells)]]
    return LoadedNotebook(loaded.source, nb, loaded.kernel_name, lines, numbers, full,
                          positions, loaded.digest, loaded.kernel_note, loaded.notes)


def failing_index(loaded: LoadedNotebook, error: NotebookError) -> int | None:
    """The index in ``loaded.nb`` of the cell that failed; None when none did."""
    if not isinstance(error, CellError):
        return None
    for index in range(len(loaded.nb.cells)):
        if loaded.cell_number(index) == error.cell:
            return index
    return None


def banner_cell(error: NotebookError, lang: str | None) -> nbformat.NotebookNode:
    """A markdown cell of plain HTML (so it looks the same in a page, a deck and
    Jupyter), in the lecture's language, with the reason as nbbuild reports it."""
    end = f" {html.escape(label('failed_end', lang))}" if isinstance(error, CellError) else ""
    text = (f'<div class="{BANNER}" role="alert" style="{_STYLE}">'
            f"<strong>{html.escape(label('failed', lang))}</strong>{end}<br>"
            f"<code>{html.escape(error.message)}</code></div>")
    cell = nbformat.v4.new_markdown_cell(text)
    cell.id = BANNER
    cell.metadata["tags"] = [BANNER]
    return cell
