"""Editions and languages: the notebooks a course hands out, from one execution.

A course that configures ``languages`` is built once per (notebook, language):
cells with a ``lang`` attribute belong to that language only. A course that
configures ``editions`` renders each execution as up to three notebooks, which
differ only in which cells they show and how (see docs/editions.md):

* **completed**: every cell with its outputs, without speaker notes or starter code;
* **speaker**: the completed edition with the speaker notes;
* **code-along**: what students type into: code cells emptied (except ``keep``
  and ``start`` cells), no outputs, answers replaced by an empty prompt, no
  alternative solutions. It needs no execution.

What runs on the kernel is the language's notebook without ``start`` cells (starter
code is not meant to run); notes cells run with the rest, so the speaker edition
shows their outputs. Cells tagged ``del`` are in no output and never run.
"""

from __future__ import annotations

import copy
from typing import Any

import nbformat

from nbbuild.config import Settings
from nbbuild.course.labels import label
from nbbuild.course.sources import LoadedNotebook, load
from nbbuild.errors import SourceError
from nbbuild.model import Source

SLIDE_TAGS = frozenset({"slide", "subslide", "fragment", "skip"})
#: Cell tags that change how a cell is executed, hence its outputs (part of the
#: execution key, store/keys.py).
EXECUTION_TAGS = frozenset({"raises-exception", "skip-execution"})
EDITION_TAGS = frozenset({"notes", "del", "keep", "start", "alt", "answer"})
#: Tags of the course tool nbbuild replaces, read as the edition tag that means
#: the same (docs/editions.md): a ``code-along`` cell is starter code, shown only
#: in the code-along edition; a ``solution`` markdown cell is an answer (a
#: ``solution`` code cell is emptied in the code-along edition, as every code cell is).
TAG_ALIASES = {"code-along": "start", "solution": "answer"}
#: Tags other Jupyter tools give meaning to: not reported as unknown.
OTHER_TOOLS_TAGS = frozenset({
    "parameters", "injected-parameters", "hide-input", "hide-output", "hide-cell",
    "remove-input", "remove-output", "remove-cell", "remove_cell", "remove_input",
    "remove_output", "thebe-init",
})
KNOWN_TAGS = SLIDE_TAGS | EDITION_TAGS | EXECUTION_TAGS | OTHER_TOOLS_TAGS | set(TAG_ALIASES)

def answer_prompt(lang: str | None = None) -> str:
    """What a code-along edition shows in place of an answer, in the page's language."""
    return f"**{label('answer', lang)}**"


def notes_css(lang: str | None = None) -> str:
    """The style of notes cells in the speaker edition's pages (nbconvert gives them
    the class ``celltag_notes``): a visibly marked box, labelled in the page's language."""
    return (
        '<style type="text/css">\n'
        ".celltag_notes { border: 2px dashed #b36b00; background: #fff7e6; padding: .4em .8em;\n"
        "  margin: .5em 0; border-radius: 4px; }\n"
        f'.celltag_notes::before {{ content: "{label("notes", lang)}"; display: block; '
        "font-weight: bold;\n  color: #b36b00; font-size: .85em; text-transform: uppercase; "
        "letter-spacing: .05em; }\n</style>\n"
    )


def tags(cell: Any) -> frozenset[str]:
    """A cell's tags, with the other tool's names read as nbbuild's (``TAG_ALIASES``)."""
    value = cell.get("metadata", {}).get("tags", [])
    if not isinstance(value, list):
        return frozenset()
    return frozenset(TAG_ALIASES.get(t, t) for t in value if isinstance(t, str))


def cell_lang(cell: Any) -> Any:
    return cell.get("metadata", {}).get("lang")


def read(source: Source, settings: Settings) -> LoadedNotebook:
    """Load ``source`` as the build executes it: for a course with editions or
    languages, its language's cells, without ``del`` and ``start`` cells, with
    slide tags applied; the whole language notebook is kept for the editions."""
    return prepare(load(source, settings.max_source_bytes, dict(settings.kernels)), settings)


def prepare(loaded: LoadedNotebook, settings: Settings) -> LoadedNotebook:
    """``read``, for a notebook already loaded from its file."""
    from nbbuild.course.kernel_choice import choose

    choose(loaded, settings)
    check_languages(loaded, settings.languages)
    if not settings.variants and not any(tags(c) & (EDITION_TAGS | SLIDE_TAGS)
                                         for c in loaded.nb.cells):
        return loaded  # nothing to take out or turn into slide metadata
    return for_language(loaded, loaded.source.lang)


def check_languages(loaded: LoadedNotebook, languages: tuple[str, ...]) -> None:
    """A ``lang`` the course does not configure is an error naming the cell."""
    for number, cell in enumerate(loaded.nb.cells, 1):
        lang = cell_lang(cell)
        if lang is None:
            continue
        if not languages:
            raise SourceError(
                loaded.source.key,
                f"cell {number} has lang={lang!r}, but the course configures no languages "
                '(add languages = ["..."] to nbbuild.toml)',
            )
        if lang not in languages:
            raise SourceError(
                loaded.source.key,
                f"cell {number} has lang={lang!r}, not one of the course's languages "
                f"({', '.join(languages)})",
            )


def unknown_tags(loaded: LoadedNotebook) -> dict[str, list[int]]:
    """Tags nbbuild and the usual Jupyter tools give no meaning to, by cell number
    (of a notebook as loaded from its file)."""
    found: dict[str, list[int]] = {}
    for number, cell in enumerate(loaded.nb.cells, 1):
        raw = cell.get("metadata", {}).get("tags", [])
        names = {t for t in raw if isinstance(t, str)} if isinstance(raw, list) else set()
        for tag in sorted(names - KNOWN_TAGS):
            found.setdefault(tag, []).append(number)
    return found


def for_language(loaded: LoadedNotebook, lang: str | None) -> LoadedNotebook:
    """The notebook to execute for ``lang``, with the full language notebook kept."""
    full = nbformat.from_dict(copy.deepcopy(dict(loaded.nb)))
    kept: list[Any] = []
    numbers: list[int] = []
    lines: list[int] = []
    for number, cell in enumerate(full.cells, 1):
        if "del" in tags(cell) or cell_lang(cell) not in (None, lang):
            continue
        _apply_slide_tag(cell)
        kept.append(cell)
        numbers.append(number)
        if loaded.cell_lines is not None:
            lines.append(loaded.cell_lines[number - 1])
    full.cells = kept
    run = [i for i, cell in enumerate(kept) if "start" not in tags(cell)]
    executed = nbformat.from_dict(copy.deepcopy(dict(full)))
    executed.cells = [executed.cells[i] for i in run]
    return LoadedNotebook(
        loaded.source,
        executed,
        loaded.kernel_name,
        [lines[i] for i in run] if loaded.cell_lines is not None else None,
        cell_numbers=[numbers[i] for i in run],
        full=full,
        positions=run,
        digest=loaded.digest,
        kernel_note=loaded.kernel_note,
        notes=loaded.notes,
    )


def _apply_slide_tag(cell: Any) -> None:
    """``slide``, ``subslide``, ``fragment``, ``skip`` and ``notes`` set the slide type."""
    chosen = [t for t in ("slide", "subslide", "fragment", "skip", "notes") if t in tags(cell)]
    if chosen:
        cell.metadata.setdefault("slideshow", nbformat.NotebookNode())["slide_type"] = chosen[0]


def merged(loaded: LoadedNotebook) -> nbformat.NotebookNode:
    """The language notebook with the executed cells (outputs, counts) in place."""
    if loaded.full is None or loaded.positions is None:
        return loaded.nb
    nb = copy.copy(loaded.full)
    nb.cells = list(loaded.full.cells)
    for executed, position in zip(loaded.nb.cells, loaded.positions, strict=True):
        nb.cells[position] = executed
    nb.metadata = loaded.nb.metadata
    return nb


def edition(nb: nbformat.NotebookNode, name: str, lang: str | None = None
            ) -> nbformat.NotebookNode:
    """The ``name`` edition of a (merged) language notebook, with nbbuild's words in
    ``lang``; ``nb`` is not changed."""
    out = copy.copy(nb)
    cells = []
    for cell in nb.cells:
        cell_tags = tags(cell)
        if name == "completed" and cell_tags & {"notes", "start"}:
            continue
        if name == "speaker" and "start" in cell_tags:
            continue
        if name == "code-along":
            if cell_tags & {"notes", "alt"}:
                continue
            cell = _code_along(cell, cell_tags, lang)
        cells.append(cell)
    out.cells = cells
    return out


def _code_along(cell: Any, cell_tags: frozenset[str], lang: str | None) -> Any:
    if cell.cell_type == "markdown" and "answer" in cell_tags:
        cell = copy.deepcopy(cell)
        cell.source = answer_prompt(lang)
        return cell
    if cell.cell_type != "code":
        return cell
    cell = copy.deepcopy(cell)
    cell.outputs = []
    cell.execution_count = None
    if not cell_tags & {"keep", "start"}:
        cell.source = ""
    return cell


def needs_execution(edition_name: str) -> bool:
    """Whether an edition shows outputs (the code-along edition shows none)."""
    return edition_name != "code-along"
