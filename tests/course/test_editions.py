"""Editions and languages: each tag's effect in each edition and format, from one
execution per language (the bilingual fixture course, built with real kernels)."""

from __future__ import annotations

import json
from pathlib import Path

import jupytext
import nbformat
import pytest
from click.testing import CliRunner

from nbbuild import build, load_settings
from nbbuild.cli import main
from nbbuild.course.editions import answer_prompt, edition, for_language
from nbbuild.course.sources import LoadedNotebook
from nbbuild.model import Source, SourceKind

from ..conftest import copy_course

EDITIONS = ("completed", "code-along", "speaker")
FORMATS = {"html": ".html", "slides": ".slides.html", "notebook": ".ipynb", "code": ".py"}


# --- the rules, on a hand-made notebook (no kernel) -------------------------------

def _cell(kind, source, *tags, lang=None):
    meta = {"tags": list(tags)} if tags else {}
    if lang:
        meta["lang"] = lang
    maker = nbformat.v4.new_code_cell if kind == "code" else nbformat.v4.new_markdown_cell
    return maker(source, metadata=meta)


def _loaded(cells, lang="en"):
    nb = nbformat.v4.new_notebook(cells=cells)
    source = Source(Path("x.ipynb"), Path("x.ipynb"), SourceKind.IPYNB, lang)
    return for_language(LoadedNotebook(source, nb, "python3"), lang)


RULES = [
    _cell("markdown", "title", "slide"),
    _cell("markdown", "the note", "notes"),
    _cell("code", "setup()", "keep"),
    _cell("code", "solution()"),
    _cell("code", "starter()", "start"),
    _cell("code", "other_way()", "alt"),
    _cell("markdown", "the answer", "answer"),
    _cell("code", "scratch()", "del"),
    _cell("markdown", "english", lang="en"),
    _cell("markdown", "deutsch", lang="de"),
]


def _sources(nb):
    return [c.source for c in nb.cells]


def test_what_runs_is_the_language_without_del_and_start_cells():
    loaded = _loaded(RULES)
    assert _sources(loaded.nb) == [
        "title", "the note", "setup()", "solution()", "other_way()", "the answer", "english"]
    # each cell keeps its number in the source file, for error messages
    assert loaded.cell_numbers == [1, 2, 3, 4, 6, 7, 9]


@pytest.mark.parametrize("name, expected", [
    ("completed", ["title", "setup()", "solution()", "other_way()", "the answer", "english"]),
    ("speaker", ["title", "the note", "setup()", "solution()", "other_way()", "the answer",
                 "english"]),
    ("code-along", ["title", "setup()", "", "starter()", answer_prompt(), "english"]),
])
def test_each_edition_keeps_the_cells_its_tags_say(name, expected):
    loaded = _loaded(RULES)
    assert _sources(edition(loaded.full, name)) == expected


def test_code_along_code_cells_have_no_outputs():
    loaded = _loaded(RULES)
    for cell in loaded.nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="out")]
            cell.execution_count = 1
    from nbbuild.course.editions import merged

    along = edition(merged(loaded), "code-along")
    assert all(c.outputs == [] and c.execution_count is None
               for c in along.cells if c.cell_type == "code")
    completed = edition(merged(loaded), "completed")
    assert all(c.outputs for c in completed.cells if c.cell_type == "code")


@pytest.mark.parametrize("tag", ["slide", "subslide", "fragment", "skip", "notes"])
def test_slide_tags_set_the_slide_type(tag):
    loaded = _loaded([_cell("markdown", "x", tag)])
    assert loaded.full.cells[0].metadata.slideshow.slide_type == tag


# --- the fixture course, built for real ------------------------------------------

@pytest.fixture(scope="module")
def bilingual(tmp_path_factory):
    course = copy_course("bilingual", tmp_path_factory.mktemp("bilingual"))
    result = build(load_settings(course, workers=2))
    assert result.ok, [str(r.error) for r in result.results if r.error]
    return course / "_build", result


def _out(root: Path, lang: str, name: str, fmt: str, stem: str = "01-lists") -> Path:
    return root / lang / name / fmt / (stem + FORMATS[fmt])


def test_pages_speak_their_language_and_notebooks_name_their_kernel(bilingual):
    out, _ = bilingual
    de_page = _out(out, "de", "code-along", "html").read_text()
    en_page = _out(out, "en", "code-along", "html").read_text()
    assert '<html lang="de">' in de_page and '<html lang="en">' in en_page
    assert "Antwort:" in de_page and "Answer:" not in de_page
    assert "Answer:" in en_page
    assert "Notizen für Vortragende" in _out(out, "de", "speaker", "html").read_text()
    assert '<html lang="de">' in _out(out, "de", "completed", "slides").read_text()
    # 01-lists.py is a percent script: its executed notebook says what it ran on
    nb = json.loads(_out(out, "en", "completed", "notebook").read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["kernelspec"]["language"] == "python"


def test_the_fixture_builds_every_output_of_every_notebook(bilingual):
    out, result = bilingual
    # 2 notebooks x 2 languages; a notebook whose code is the same in both runs once
    shared = [r for r in result.results if r.action == "rendered"]
    assert len(result.results) == 4 and result.executed + len(shared) == 4 and result.ok
    for r in shared:
        assert r.reasons == [f"same code as {r.source.rel} [en], executed once for both"]
    for stem in ("01-lists", "02-data"):
        for lang in ("en", "de"):
            for name in EDITIONS:
                for fmt in FORMATS:
                    assert _out(out, lang, name, fmt, stem).is_file(), (lang, name, fmt, stem)
    # data files beside every copy, so notebooks and pages find them
    assert (out / "de" / "code-along" / "notebook" / "data" / "cities.csv").is_file()
    # One home per edition and language, the students' first; each links the others.
    index = (out / "index.html").read_text()
    assert "en/completed/html/01-lists.html" in index and "/speaker/" not in index
    assert 'href="index.de.code-along.html"' in index and 'href="index.en.speaker.html"' in index
    speaker = (out / "index.en.speaker.html").read_text()
    assert "en/speaker/slides/01-lists.slides.html" in speaker and "/completed/" not in speaker
    german = (out / "index.de.completed.html").read_text()
    assert '<html lang="de">' in german and "de/completed/html/01-lists.html" in german


def _text(out, lang, name, fmt, stem="01-lists"):
    return _out(out, lang, name, fmt, stem).read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_languages_keep_their_own_cells(bilingual, fmt):
    out, _ = bilingual
    en, de = _text(out, "en", "completed", fmt), _text(out, "de", "completed", fmt)
    assert "A list keeps values in order" in en and "Eine Liste" not in en
    assert "Eine Liste" in de and "A list keeps values" not in de
    if fmt in ("html", "notebook"):  # outputs of language-specific code
        assert "Hello from the English lecture" in en and "Hallo aus" not in en


@pytest.mark.parametrize("name", EDITIONS)
@pytest.mark.parametrize("fmt", list(FORMATS))
def test_del_cells_are_nowhere_and_never_ran(bilingual, name, fmt):
    out, _ = bilingual
    text = _text(out, "en", name, fmt)
    assert "internal check" not in text
    assert "rows.clear()" not in _text(out, "en", name, fmt, "02-data")


def test_del_cells_never_run(bilingual):
    """02-data's del cell empties the table just after reading it: had it run,
    the next cell would count 0 rows."""
    out, _ = bilingual
    nb = nbformat.read(_out(out, "en", "completed", "notebook", "02-data"), as_version=4)
    count = next(c for c in nb.cells if c.source == "len(rows)")
    assert count.outputs[0]["data"]["text/plain"] == "3"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_notes_only_in_the_speaker_edition(bilingual, fmt):
    out, _ = bilingual
    note = "Remind everyone that indexing starts at zero."
    assert note in _text(out, "en", "speaker", fmt)
    for name in ("completed", "code-along"):
        assert note not in _text(out, "en", name, fmt)


def test_notes_are_speaker_notes_in_slides_and_a_marked_box_in_pages(bilingual):
    out, _ = bilingual
    slides = _text(out, "en", "speaker", "slides")
    aside = slides[slides.index('<aside class="notes">'):]
    assert "Remind everyone" in aside[:aside.index("</aside>")]
    page = _text(out, "en", "speaker", "html")
    assert "celltag_notes" in page and "Speaker notes" in page
    assert "Speaker notes" not in _text(out, "en", "completed", "html")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_start_cells_only_in_code_along(bilingual, fmt):
    out, _ = bilingual
    assert "starter: replace the dots" in _text(out, "en", "code-along", fmt)
    for name in ("completed", "speaker"):
        assert "starter: replace the dots" not in _text(out, "en", name, fmt)


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_alternative_solutions_and_answers_not_in_code_along(bilingual, fmt):
    out, _ = bilingual
    along = _text(out, "en", "code-along", fmt)
    assert "cubes_again" not in along and "The largest cube is 64" not in along
    assert "Answer:" in along
    completed = _text(out, "en", "completed", fmt)
    assert "cubes_again" in completed and "The largest cube is 64" in completed


def test_code_along_notebook_empties_code_but_keeps_keep_and_start_cells(bilingual):
    out, _ = bilingual
    nb = nbformat.read(_out(out, "en", "code-along", "notebook"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code] == [
        "squares = [n * n for n in range(5)]", "", "cubes = ...  # starter: replace the dots",
        "", ""]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    completed = nbformat.read(_out(out, "en", "completed", "notebook"), as_version=4)
    results = [c for c in completed.cells if c.cell_type == "code"]
    assert results[1].outputs[0]["data"]["text/plain"] == "1004"


def test_slide_tags_shape_the_deck(bilingual):
    out, _ = bilingual
    slides = _text(out, "en", "completed", "slides")
    assert 'class="fragment"' in slides
    assert "Not on the slides" not in slides  # skip
    assert "Not on the slides" in _text(out, "en", "completed", "html")
    assert slides.count("<section") >= 3  # slide, subslide


def test_code_format_is_a_clean_percent_script(bilingual):
    out, _ = bilingual
    script = _text(out, "en", "completed", "code")
    nb = jupytext.reads(script, fmt="py:percent")
    assert any("cubes = [n ** 3" in c.source for c in nb.cells)
    assert "jupyter:" not in script and "1004" not in script  # no metadata, no outputs
    along = _text(out, "de", "code-along", "code")
    assert "cubes = [n ** 3" not in along and "starter" in along


# --- executions, cache ------------------------------------------------------------

LECTURE = '''# %% [markdown] lang="en"
# # Counting

# %% [markdown] lang="de"
# # Zählen

# %% [markdown] tags=["notes"] lang="en"
# Say hello.

# %% lang="en"
open({log!r}, "a").write("en\\n")

# %% lang="de"
open({log!r}, "a").write("de\\n")

# %%
total = sum(range(10))
total
'''


@pytest.fixture
def small(tmp_path, private_tmp):
    course = tmp_path / "course"
    course.mkdir()
    log = tmp_path / "executions.log"
    (course / "nbbuild.toml").write_text(
        'languages = ["en", "de"]\neditions = ["completed", "code-along", "speaker"]\n'
        'formats = ["html", "slides", "notebook", "code"]\n')
    (course / "lecture.py").write_text(LECTURE.format(log=str(log)))
    return course, log


def _executions(log: Path) -> list[str]:
    return sorted(log.read_text().split()) if log.exists() else []


def _outputs(course: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (course / "_build").rglob("lecture.*")}


def test_24_outputs_from_exactly_2_executions(small):
    course, log = small
    result = build(load_settings(course, workers=2))
    assert result.ok and result.executed == 2
    assert _executions(log) == ["de", "en"]
    assert len(_outputs(course)) == 2 * 3 * 4 == 24


def _edit_after_a_build(course: Path, old: str, new: str) -> dict[Path, int]:
    """Build, then replace ``old`` by ``new`` in the lecture; the outputs' mtimes."""
    build(load_settings(course, workers=2))
    before = _outputs(course)
    source = course / "lecture.py"
    source.write_text(source.read_text().replace(old, new))
    return before


def test_a_speaker_note_edit_re_renders_only_speaker_outputs(small):
    course, log = small
    before = _edit_after_a_build(course, "Say hello.", "Say hello warmly.")
    plan = CliRunner().invoke(main, ["plan", str(course), "--explain"]).output
    assert "re-render   lecture.py [en]  (speaker edition changed)" in plan
    assert "up to date  lecture.py [de]" in plan
    result = build(load_settings(course, workers=2))
    assert result.ok and result.executed == 0 and _executions(log) == ["de", "en"]
    after = _outputs(course)
    changed = {p.relative_to(course / "_build").parts[:2] for p in after if after[p] != before[p]}
    assert changed == {("en", "speaker")}
    assert "Say hello warmly." in (course / "_build/en/speaker/html/lecture.html").read_text()


def test_a_code_edit_executes_again_but_leaves_the_code_along_edition_alone(small):
    course, log = small
    before = _edit_after_a_build(course, "sum(range(10))", "sum(range(11))")
    result = build(load_settings(course, workers=2))
    assert result.ok and _executions(log) == ["de", "de", "en", "en"]
    after = _outputs(course)
    rewritten = {p.relative_to(course / "_build").parts[1] for p in after if after[p] != before[p]}
    assert rewritten == {"completed", "speaker"}
    assert "55" in (course / "_build/de/completed/html/lecture.html").read_text()


def test_unknown_tags_are_reported_once_by_plan(small):
    course, _ = small
    source = course / "lecture.py"
    source.write_text(source.read_text().replace('# %%\ntotal', '# %% tags=["todo"]\ntotal')
                      .replace('# %% lang="de"', '# %% tags=["todo", "wip"] lang="de"'))
    result = CliRunner().invoke(main, ["plan", str(course)])
    notes = [line for line in result.stderr.splitlines() if "unknown tag" in line]
    assert notes == ["note: unknown tag 'todo' ignored: 2 cells in 1 notebook (lecture.py)",
                     "note: unknown tag 'wip' ignored: 1 cell in 1 notebook (lecture.py)"]


def test_a_language_the_course_does_not_configure_is_an_error(small):
    course, _ = small
    (course / "nbbuild.toml").write_text('languages = ["en"]\neditions = ["completed"]\n')
    result = build(load_settings(course, workers=1))
    [lecture] = result.results
    assert not result.ok and "cell 2 has lang='de'" in str(lecture.error)
    assert "lecture.py" in str(lecture.error)


def test_lang_without_any_languages_configured_is_an_error(small):
    course, _ = small
    (course / "nbbuild.toml").unlink()
    result = build(load_settings(course, workers=1))
    assert not result.ok and "configures no languages" in str(result.results[0].error)


def test_a_failing_cell_is_named_by_its_number_in_the_source(small):
    course, _ = small
    source = course / "lecture.py"
    source.write_text(source.read_text().replace("total = sum(range(10))", "1 / 0"))
    result = build(load_settings(course, workers=2))
    errors = {r.source.key: r.error for r in result.results}
    # cell 6 of the file, although the English run has no cell for German code
    assert "cell 6" in str(errors["lecture.py [en]"]) and "ZeroDivisionError" in str(
        errors["lecture.py [en]"])
    page = (course / "_build/en/completed/html/lecture.html").read_text()
    assert "This lecture failed to build." in page and "cell 6" in page
