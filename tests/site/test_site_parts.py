"""The site's parts on their own: titles from the author's words, variants and
their file names, the search index's entries and its reuse of unchanged pages,
and the look's overrides."""

from __future__ import annotations

import os
from pathlib import PurePosixPath

import pytest

from nbbuild import load_settings
from nbbuild.look import Look, LookError
from nbbuild.render.layout import variants
from nbbuild.site import search
from nbbuild.site.outline import section_title, split_title

_PAGE = """<html><head><style>h2 { x: 1 }</style></head><body class="jp-Notebook"><main>
<div id="cell-id=a" class="jp-Cell jp-MarkdownCell">
<h1 id="The-title">The title<a class="anchor-link" href="#The-title">&#182;</a></h1>
<p>Intro &amp; words.</p></div>
<div id="cell-id=b" class="jp-Cell jp-CodeCell"><div class="jp-Cell-inputWrapper">
<pre>zebra = 1</pre></div><div class="jp-Cell-outputWrapper"><pre>elephant output</pre>
<h2 id="in-output">Output heading</h2></div></div>
<div id="cell-id=c" class="jp-Cell jp-MarkdownCell">
<h2 id="Second-part"><code>x</code> part<a class="anchor-link" href="#Second-part">&#182;</a></h2>
<p>Giraffe text.</p><script>var hidden = "walrus";</script></div>
</main></body></html>"""


def test_titles_come_from_the_authors_words(tmp_path):
    assert split_title("# Hello *world*\n\nRest.") == ("Hello world", "Rest.")
    assert split_title("Setext\n===\n\nBody") == ("Setext", "Body")
    assert split_title("No heading here.") == ("", "No heading here.")
    (tmp_path / "02_more-things").mkdir()
    (tmp_path / "03-x").mkdir()
    (tmp_path / "03-x" / "README.md").write_text("## From the readme\n")
    settings = load_settings(tmp_path)
    assert section_title(settings, PurePosixPath("02_more-things")) == "More things"
    assert section_title(settings, PurePosixPath("03-x")) == "From the readme"
    assert section_title(settings, PurePosixPath(".")) == ""


def test_variants_name_their_files_and_put_students_first(tmp_path):
    (tmp_path / "nbbuild.toml").write_text(
        'editions = ["speaker", "completed"]\nlanguages = ["en", "de"]\n')
    found = variants(load_settings(tmp_path))
    assert [(v.lang, v.edition, v.home.as_posix()) for v in found] == [
        ("en", "completed", "index.html"), ("en", "speaker", "index.en.speaker.html"),
        ("de", "completed", "index.de.completed.html"), ("de", "speaker", "index.de.speaker.html")]
    assert found[1].search_file.as_posix() == "_site/search.en.speaker.js"
    assert [v.home.as_posix() for v in variants(load_settings(tmp_path / ".."))] == ["index.html"]


def test_a_page_gives_headings_and_the_words_of_its_cells_not_its_outputs():
    assert search.headings(_PAGE) == [(1, "The-title", "The title"),
                                      (2, "in-output", "Output heading"),
                                      (2, "Second-part", "x part")]
    entry = search.page_entry(_PAGE, "Lecture")
    sections = entry["s"]
    assert [s[:2] for s in sections] == [["The title", "The-title"], ["x part", "Second-part"]]
    assert "Intro & words." in sections[0][2] and "zebra = 1" in sections[0][2]
    assert "Giraffe text." in sections[1][2]
    text = " ".join(s[2] for s in sections)
    assert "elephant" not in text and "walrus" not in text and "¶" not in text


def test_the_index_reads_again_only_pages_that_changed(tmp_path):
    for name in ("a", "b"):
        (tmp_path / f"{name}.html").write_text(_PAGE.replace("Giraffe", f"Giraffe-{name}"))
    pages = [(PurePosixPath("a.html"), "A"), (PurePosixPath("b.html"), "B")]
    script, kept, read = search.build_index(tmp_path, pages, {})
    assert read == 2 and script.startswith(search.PREFIX) and "Giraffe-b" in script
    again, kept_again, read = search.build_index(tmp_path, pages, kept)
    assert read == 0 and again == script and kept_again == kept
    page = tmp_path / "b.html"
    page.write_text(_PAGE.replace("Giraffe", "Okapi"))
    os.utime(page, ns=(1, 1))  # a different stamp
    third, _, read = search.build_index(tmp_path, pages, kept)
    assert read == 1 and "Okapi" in third and "Giraffe-b" not in third
    assert "</" not in third.replace("<\\/", "")  # cannot close a <script> early


def test_a_notebook_overrides_the_course_look_and_is_checked():
    look = Look(show_prompts=False)
    mine = look.with_overrides({"show_prompts": True, "slides": {"transition": "fade"}}, "n")
    assert mine.show_prompts and mine.slides.transition == "fade"
    assert mine.slides.width == look.slides.width  # the rest is the course's
    assert look.with_overrides(None, "n") is look
    with pytest.raises(LookError, match="unknown look setting colour"):
        look.with_overrides({"colour": "red"}, "n.ipynb: metadata nbbuild")
    with pytest.raises(LookError, match="must be a table"):
        look.with_overrides(["x"], "n")
