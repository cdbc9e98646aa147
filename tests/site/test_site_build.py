"""The site on built HTML: each look setting, the home page's words, and what a
rebuild rewrites (a one-lecture edit rewrites that lecture and the search index;
a no-op build rewrites nothing)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from nbbuild import build, load_settings
from nbbuild.errors import ConfigError
from nbbuild.model import Status

from ..conftest import write_notebook

pytestmark = pytest.mark.integration


def _course(root: Path, toml: str = "") -> Path:
    course = root / "c"
    write_notebook(course / "01-intro" / "a.ipynb", "# Alpha lecture\n\nWords about apples.",
                   "print(1)")
    write_notebook(course / "01-intro" / "b.ipynb", "# Beta lecture", "print(2)")
    write_notebook(course / "02-more" / "c.ipynb", "# Gamma lecture", "print(3)")
    (course / "img").mkdir()
    (course / "img" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (course / "style.css").write_text("body { letter-spacing: .01em; }\n")
    (course / "nbbuild.toml").write_text(toml)
    return course


def _build(course: Path, **overrides):
    result = build(load_settings(course, workers=2, **overrides))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    return course / "_build"


def _stamps(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(out).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in out.rglob("*") if p.is_file() and not p.name.startswith(".nbbuild-o")
            and p.name != ".nbbuild-files"}


def test_look_settings_reach_pages_decks_and_the_home_page(tmp_path, private_tmp):
    course = _course(tmp_path, '''
title = "Fruit"
logo = "img/logo.png"
css = ["style.css"]
show_prompts = false
theme = "light"
[slides]
theme = "black"
transition = "zoom"
width = 1280
height = 720
scroll = false
slide_numbers = false
controls = false
''')
    out = _build(course)
    page = (out / "01-intro/a.html").read_text()
    deck = (out / "01-intro/a.slides.html").read_text()
    home = (out / "index.html").read_text()
    # logo and stylesheet: from the course's copy beside the outputs
    assert '<img class="nbb-logo" src="../img/logo.png"' in page
    assert '<img class="nbb-logo" src="img/logo.png"' in home
    assert '<link rel="stylesheet" href="../style.css">' in page and "style.css" in deck
    assert '<link rel="stylesheet" href="style.css">' in home
    # prompts hidden, on pages and decks
    assert "In&nbsp;[" not in page and "In&nbsp;[" not in deck
    # theme light: no dark theme for dark systems
    assert "theme-dark.css" not in page and 'data-jp-theme-light="true"' in page
    # the decks' options
    assert "/reveal/dist/theme/black.css" in deck
    init = deck[deck.index("Reveal.initialize"):]
    for option in ('transition: "zoom"', "width: 1280", "height: 720", "controls: false",
                   'slideNumber: ""'):
        assert option in init, option
    assert "if (!false) { return; }" in deck  # scrolling off


def test_defaults_follow_the_system_theme_show_prompts_and_number_scrolling_slides(
        tmp_path, private_tmp):
    out = _build(_course(tmp_path))
    page = (out / "01-intro/a.html").read_text()
    deck = (out / "01-intro/a.slides.html").read_text()
    assert 'href="../_static/nbbuild/theme-dark.css" media="(prefers-color-scheme: dark)"' in page
    assert "nbb-theme-auto" in page and "In&nbsp;[1]:" in page
    init = deck[deck.index("Reveal.initialize"):]
    assert 'slideNumber: "c/t"' in init and "controls: true" in init
    assert "if (!true) { return; }" in deck  # slides taller than the deck scroll
    assert "/reveal/dist/theme/white.css" in deck


def test_dark_theme_and_a_notebooks_own_settings(tmp_path, private_tmp):
    course = _course(tmp_path, 'theme = "dark"\nshow_prompts = false\n')
    nb = nbformat.read(course / "01-intro/b.ipynb", as_version=4)
    nb.metadata["nbbuild"] = {"show_prompts": True, "slides": {"theme": "dracula"}}
    nbformat.write(nb, course / "01-intro/b.ipynb")
    out = _build(course)
    a, b = (out / "01-intro/a.html").read_text(), (out / "01-intro/b.html").read_text()
    assert 'data-jp-theme-light="false"' in a and "nbb-theme-dark" in a
    assert "In&nbsp;[" not in a and "In&nbsp;[1]:" in b
    assert "theme/dracula.css" in (out / "01-intro/b.slides.html").read_text()
    assert "theme/white.css" in (out / "01-intro/a.slides.html").read_text()


def test_a_notebooks_wrong_setting_fails_that_notebook_with_a_message(tmp_path, private_tmp):
    course = _course(tmp_path)
    nb = nbformat.read(course / "01-intro/b.ipynb", as_version=4)
    nb.metadata["nbbuild"] = {"show_prompts": "no"}
    nbformat.write(nb, course / "01-intro/b.ipynb")
    result = build(load_settings(course, workers=2))
    bad = [r for r in result.results if not r.ok]
    assert [r.source.key for r in bad] == ["01-intro/b.ipynb"]
    assert bad[0].status is Status.ERRORED
    assert "metadata nbbuild: show_prompts must be true or false" in str(bad[0].error)


@pytest.mark.parametrize("toml, message", [
    ('logo = "img/missing.png"', "logo: img/missing.png is not a file of the course"),
    ('css = ["../outside.css"]', "must be a path inside the course"),
    ('theme = "sepia"', "theme must be one of auto, light, dark"),
    ('[slides]\ntheme = "league"', "load their fonts from the internet"),
    ('[slides]\nwidth = "wide"', "slides.width must be a whole number"),
    ('[slides]\nnumbers = true', "unknown setting numbers"),
    ('[sections]\n"01-intro" = 3', "sections.01-intro must be a title"),
])
def test_wrong_look_settings_are_messages_naming_the_setting(tmp_path, toml, message):
    course = _course(tmp_path, toml)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(course)


def test_the_home_page_is_for_students(tmp_path, private_tmp):
    course = _course(tmp_path, '[sections]\n"02-more" = "Going further"\n')
    (course / "README.md").write_text("# Fruit for beginners\n\nAll about **fruit**. "
                                      "Start with [alpha](01-intro/a.ipynb).\n")
    (course / "01-intro" / "README.md").write_text("Introduction\n============\n\nFirst.\n")
    out = _build(course)
    home = (out / "index.html").read_text()
    assert "<title>Fruit for beginners</title>" in home  # from the README's heading
    assert "<strong>fruit</strong>" in home and 'href="01-intro/a.html"' in home
    sections = re.findall(r"<h2[^>]*>(.*?)</h2>", home)
    assert sections == ["Introduction", "Going further"]
    lectures = re.findall(r'class="nbb-lecture" href="([^"]+)">([^<]+)<', home)
    assert lectures == [("01-intro/a.html", "Alpha lecture"), ("01-intro/b.html", "Beta lecture"),
                        ("02-more/c.html", "Gamma lecture")]
    assert 'href="01-intro/a.slides.html"' in home and 'href="01-intro/a.ipynb" download' in home
    page = (out / "02-more/c.html").read_text()
    assert "<span>Fruit for beginners</span>" in page  # the course title on every page
    outline = (out / "_site/outline.js").read_text()
    data = json.loads(outline[outline.index("{"):outline.rindex("}") + 1])
    assert [s["t"] for s in data["sections"]] == ["Introduction", "Going further"]


def test_a_no_op_build_with_look_settings_parses_no_source(tmp_path, private_tmp, monkeypatch):
    """The look is part of every export key; a no-op build must still decide from
    the store alone (stat and compare), without reading a notebook."""
    course = _course(tmp_path, 'css = ["style.css"]\n[slides]\ntheme = "black"\n')
    _build(course)
    from nbbuild.course import editions

    def refuse(*args, **kwargs):
        raise AssertionError("a source was parsed in a no-op build")

    monkeypatch.setattr(editions, "read", refuse)
    result = build(load_settings(course, workers=2))
    assert [r.action for r in result.results] == ["up to date"] * 3, [
        str(r.error) for r in result.results]


def test_a_markdown_edit_rewrites_that_lecture_and_the_search_index_only(tmp_path, private_tmp):
    course = _course(tmp_path)
    out = _build(course)
    before = _stamps(out)
    assert _build(course) and _stamps(out) == before  # a no-op build writes nothing
    nb = nbformat.read(course / "01-intro/b.ipynb", as_version=4)
    nb.cells[0].source += "\n\nNow about bananas."
    nbformat.write(nb, course / "01-intro/b.ipynb")
    _build(course)
    after = _stamps(out)
    changed = sorted(name for name in after if after[name][0] != before.get(name, (0,))[0])
    assert changed == ["01-intro/b.html", "01-intro/b.ipynb", "01-intro/b.slides.html",
                       "_site/.nbbuild-search.json", "_site/search.js"]
    assert "bananas" in (out / "_site/search.js").read_text()
    # A new title changes the outline and the home page too, and still no other page.
    nb.cells[0].source = nb.cells[0].source.replace("# Beta lecture", "# Better lecture")
    nbformat.write(nb, course / "01-intro/b.ipynb")
    before = after
    _build(course)
    after = _stamps(out)
    changed = sorted(name for name in after if after[name][0] != before[name][0])
    assert changed == ["01-intro/b.html", "01-intro/b.ipynb", "01-intro/b.slides.html",
                       "_site/.nbbuild-search.json", "_site/outline.js", "_site/search.js",
                       "index.html"]
    assert "Better lecture" in (out / "index.html").read_text()
