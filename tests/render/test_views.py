"""Every tag that hides something from students, in every format, with and without
editions (real builds, real kernels)."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbbuild import build, load_settings
from nbbuild.render.views import for_format

pytestmark = pytest.mark.integration


def _notebook(path):
    cells = [
        new_markdown_cell("# Tags"),
        new_markdown_cell("NOTE-BY-SLIDE-TYPE: say hello",
                          metadata={"slideshow": {"slide_type": "notes"}}),
        new_markdown_cell("NOTE-BY-TAG: mind the time", metadata={"tags": ["notes"]}),
        new_code_cell("print('REMOVED-CELL-' + 'OUT')  # REMOVED-CELL-SOURCE",
                      metadata={"tags": ["remove-cell"]}),
        new_code_cell("print('KEPT-' + 'OUTPUT-1')  # REMOVED-INPUT-SOURCE",
                      metadata={"tags": ["remove-input"]}),
        new_code_cell("print('REMOVED-' + 'OUTPUT')  # KEPT-SOURCE-2",
                      metadata={"tags": ["remove-output"]}),
        new_code_cell("print('HIDDEN-OUTPUT')  # HIDDEN-SOURCE", metadata={"tags": ["hide-input"]}),
        new_code_cell("print('DEL' + 'ETED')", metadata={"tags": ["del"]}),
    ]
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=cells, metadata=meta), path)


def test_every_tag_in_every_format_of_a_course_without_editions(tmp_path, private_tmp):
    course = tmp_path / "c"
    course.mkdir()
    _notebook(course / "tags.ipynb")
    result = build(load_settings(course, workers=1, formats="html,slides,notebook,code"))
    assert result.ok, [str(r.error) for r in result.results]
    out = course / "_build"
    page = (out / "tags.html").read_text()
    deck = (out / "tags.slides.html").read_text()
    notebook = (out / "tags.ipynb").read_text()
    code = (out / "tags.py").read_text()
    for text in (page, notebook, code):  # notes never reach a student's page or files
        assert "NOTE-BY-SLIDE-TYPE" not in text and "NOTE-BY-TAG" not in text
    assert '<aside class="notes">' in deck
    assert "NOTE-BY-SLIDE-TYPE" in deck and "NOTE-BY-TAG" in deck  # as speaker notes only
    for text in (page, deck, notebook, code):
        assert "REMOVED-CELL" not in text
        assert "REMOVED-INPUT-SOURCE" not in text
        assert "REMOVED-OUTPUT" not in text
        assert "DELETED" not in text  # del: not even executed
    for text in (page, deck, notebook):
        assert "KEPT-OUTPUT-1" in text
    assert "KEPT-SOURCE-2" in page and "KEPT-SOURCE-2" in code
    # hide-input: on the page, folded behind a summary by nbbuild's own script
    assert "celltag_hide-input" in page and "Show code" in page and "HIDDEN-SOURCE" in page
    executed = json.loads(notebook)
    assert all("del" not in c["metadata"].get("tags", []) for c in executed["cells"])


def test_notes_reach_only_the_speaker_edition_and_decks(tmp_path, private_tmp):
    course = tmp_path / "c"
    course.mkdir()
    _notebook(course / "tags.ipynb")
    (course / "nbbuild.toml").write_text(
        'editions = ["completed", "code-along", "speaker"]\nformats = ["html", "slides"]\n')
    result = build(load_settings(course, workers=1))
    assert result.ok, [str(r.error) for r in result.results]
    out = course / "_build"
    for edition in ("completed", "code-along"):
        page = (out / edition / "html" / "tags.html").read_text()
        assert "NOTE-BY-SLIDE-TYPE" not in page and "NOTE-BY-TAG" not in page
        assert "REMOVED-CELL" not in page
    speaker = (out / "speaker" / "html" / "tags.html").read_text()
    assert "NOTE-BY-SLIDE-TYPE" in speaker and "NOTE-BY-TAG" in speaker
    deck = (out / "speaker" / "slides" / "tags.slides.html").read_text()
    assert '<aside class="notes">' in deck


def test_a_notebook_without_view_tags_is_shown_as_it_is():
    nb = new_notebook(cells=[new_code_cell("1"), new_markdown_cell("x")])
    assert for_format(nb, "html") is nb
