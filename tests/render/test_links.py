"""Links between lectures point at the right output in every format, edition and
language; broken ones are named with their file and cell, and fail a strict build."""

from __future__ import annotations

import re

import pytest

from nbbuild import build, load_settings

from ..conftest import copy_course, run_nbbuild, write_notebook

pytestmark = pytest.mark.integration


def _hrefs(path) -> set[str]:
    return set(re.findall(r'href="([^"#:]+(?:#[^"]*)?)"', path.read_text()))


@pytest.fixture
def linked(tmp_path):
    """Two folders linking each other, as .py and .ipynb, with anchors."""
    course = tmp_path / "c"
    (course / "part1").mkdir(parents=True)
    (course / "part1" / "one.py").write_text(
        "# %% [markdown]\n# # One\n#\n"
        "# [two](../part2/two.ipynb#Two), [the index](../index.html), "
        "[data](../part2/table.csv)\n\n# %%\nprint(1)\n")
    write_notebook(course / "part2" / "two.ipynb",
                   "# Two\n\n[back to one](../part1/one.py) and "
                   '<a href="../part1/one.py#One">one, in HTML</a>', "print(2)")
    (course / "part2" / "table.csv").write_text("x\n1\n")
    return course


def test_links_between_lectures_point_at_each_formats_output(linked, private_tmp):
    result = build(load_settings(linked, workers=2))
    assert result.ok and result.broken_links == [] and result.links_checked > 0
    out = linked / "_build"
    assert {"../part2/two.html#Two", "../index.html", "../part2/table.csv"} <= _hrefs(
        out / "part1" / "one.html")
    assert "../part2/two.slides.html#Two" in _hrefs(out / "part1" / "one.slides.html")
    page = (out / "part2" / "two.html").read_text()
    assert 'href="../part1/one.html"' in page and 'href="../part1/one.html#One"' in page
    notebook = (out / "part2" / "two.ipynb").read_text()
    assert "(../part1/one.ipynb)" in notebook  # the executed notebook links notebooks


def test_links_follow_the_edition_and_language(tmp_path, private_tmp):
    course = copy_course("bilingual", tmp_path)
    result = build(load_settings(course, workers=2))
    assert result.ok and result.broken_links == []
    out = course / "_build"
    de = (out / "de" / "code-along" / "html" / "01-lists.html").read_text()
    assert 'href="02-data.html"' in de and "Weiter" in de
    deck = (out / "en" / "speaker" / "slides" / "02-data.slides.html").read_text()
    assert 'href="01-lists.slides.html"' in deck


def test_a_broken_link_is_named_and_fails_a_strict_build(linked, private_tmp):
    one = linked / "part1" / "one.py"
    one.write_text(one.read_text().replace("# [two]", "# [gone](three.py), [two]"))
    built = run_nbbuild("build", str(linked), "-j", "2")
    text = built.stdout + built.stderr
    assert built.returncode == 0, text
    assert "broken link: part1/one.py: cell 1 links to three.py" in text
    strict = run_nbbuild("build", str(linked), "-j", "2", "--strict")  # nothing to render
    assert strict.returncode == 1 and "broken link(s)" in strict.stderr
    one.write_text(one.read_text().replace("[gone](three.py), ", ""))
    assert run_nbbuild("build", str(linked), "-j", "2", "--strict").returncode == 0
