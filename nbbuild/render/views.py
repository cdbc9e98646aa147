"""What each format shows: the cell tags that hide things from students.

Applied to the notebook of each (edition, format) just before it is rendered, after
the edition is made (course/editions.py), so every format and edition honours them:

| tag / cell | pages | decks | notebooks | code |
|---|---|---|---|---|
| `slide_type: notes` or tag `notes` | removed (kept in the speaker edition) | speaker notes only | removed (kept in the speaker edition) | removed (kept in the speaker edition) |
| `remove-cell` | removed | removed | removed | removed |
| `remove-input` | output only | output only | source emptied | removed |
| `remove-output` | input only | input only | outputs cleared | unchanged |
| `hide-input`, `hide-output` | collapsed, a click shows them | shown | shown | unchanged |

(`remove_cell` and the other underscore spellings of Jupyter Book work too.)
"""

from __future__ import annotations

import copy
from typing import Any

import nbformat

from nbbuild.course.editions import tags
from nbbuild.course.labels import label

REMOVE_CELL = frozenset({"remove-cell", "remove_cell"})
REMOVE_INPUT = frozenset({"remove-input", "remove_input"})
REMOVE_OUTPUT = frozenset({"remove-output", "remove_output"})
HIDE = frozenset({"hide-input", "hide-output"})
#: Tags this module acts on: a notebook without them (and without notes) is shown
#: as it is, with no copy.
VIEW_TAGS = REMOVE_CELL | REMOVE_INPUT | REMOVE_OUTPUT | HIDE | {"notes"}


def is_notes(cell: Any) -> bool:
    """A cell for the speaker: ``slide_type: notes`` or the ``notes`` tag."""
    slide = cell.get("metadata", {}).get("slideshow", {})
    return "notes" in tags(cell) or (isinstance(slide, dict) and slide.get("slide_type") == "notes")


def for_format(nb: nbformat.NotebookNode, fmt: str, *, speaker: bool = False
               ) -> nbformat.NotebookNode:
    """The notebook as ``fmt`` shows it (``nb`` is not changed)."""
    if not any(tags(c) & VIEW_TAGS or is_notes(c) for c in nb.cells):
        return nb
    out = copy.copy(nb)
    out.cells = [shown for cell in nb.cells
                 if (shown := _cell_for(cell, fmt, speaker)) is not None]
    return out


def _cell_for(cell: Any, fmt: str, speaker: bool) -> Any:
    cell_tags = tags(cell)
    if cell_tags & REMOVE_CELL:
        return None
    if is_notes(cell):
        if fmt == "slides":
            return _as_speaker_notes(cell)
        if not speaker:
            return None
    if not cell_tags & (REMOVE_INPUT | REMOVE_OUTPUT):
        return cell
    cell = nbformat.from_dict(copy.deepcopy(dict(cell)))
    if cell_tags & REMOVE_OUTPUT and cell.cell_type == "code":
        cell.outputs = []
    if cell_tags & REMOVE_INPUT:
        if fmt == "code":
            return None
        if fmt == "notebook":
            cell.source = ""
        else:
            cell.metadata["transient"] = {"remove_source": True}
    return cell


def _as_speaker_notes(cell: Any) -> Any:
    if cell.get("metadata", {}).get("slideshow", {}).get("slide_type") == "notes":
        return cell
    cell = nbformat.from_dict(copy.deepcopy(dict(cell)))
    cell.metadata.setdefault("slideshow", nbformat.NotebookNode())["slide_type"] = "notes"
    return cell


def collapsible(page: bytes, lang: str | None) -> bytes:
    """A page whose ``hide-input`` / ``hide-output`` cells fold their input or output
    behind a "Show code" / "Show output" summary (nbbuild's own script, no network)."""
    if b"celltag_hide-input" not in page and b"celltag_hide-output" not in page:
        return page
    script = _COLLAPSE.replace("SHOW_CODE", label("show_code", lang)).replace(
        "SHOW_OUTPUT", label("show_output", lang))
    at = page.rfind(b"</body>")
    return page[:at] + script.encode("utf-8") + page[at:] if at >= 0 else page


_COLLAPSE = """<script>
(function () {
  function fold(selector, part, text) {
    document.querySelectorAll(selector).forEach(function (cell) {
      var inner = cell.querySelector(part);
      if (!inner) { return; }
      var box = document.createElement("details");
      box.className = "nbbuild-hidden";
      var summary = document.createElement("summary");
      summary.textContent = text;
      box.appendChild(summary);
      inner.parentNode.insertBefore(box, inner);
      box.appendChild(inner);
    });
  }
  fold(".celltag_hide-input", ".jp-Cell-inputWrapper", "SHOW_CODE");
  fold(".celltag_hide-output", ".jp-Cell-outputWrapper", "SHOW_OUTPUT");
})();
</script>
"""
