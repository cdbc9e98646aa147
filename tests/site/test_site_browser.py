"""The demo course's site in Debian's chromium, served by a static server on
127.0.0.1 with every request that would leave the machine blocked: from the home
page every lecture is reached; a page's next, previous and home links lead where
they should; the search box finds a lecture by a word only it contains; at a
phone's width the contents open as a menu; a tall slide scrolls."""

from __future__ import annotations

import functools
import http.server
import threading
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbbuild import build, load_settings

from ..conftest import copy_course
from ..watch.test_offline import _requests, _wait, offline_chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]

#: A word that occurs in one lecture only (02-data/04-numpy), in its prose.
_RARE = "vectorised"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """fixtures/course built once, with one lecture that holds a 30-row table on a
    slide, served from 127.0.0.1."""
    course = copy_course("course", tmp_path_factory.mktemp("site"))
    nbformat.write(new_notebook(metadata=KERNELSPEC, cells=[
        new_markdown_cell("# A long table"),
        new_code_cell("print('\\n'.join(f'row {n}' for n in range(30)))",
                      metadata={"slideshow": {"slide_type": "slide"}})]),
        course / "03-performance" / "04-table.ipynb")
    result = build(load_settings(course, workers=2))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    out = course / "_build"
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", result, out
    server.shutdown()
    server.server_close()


KERNELSPEC = {"kernelspec": {"name": "python3", "display_name": "Python 3",
                             "language": "python"}}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def browser(tmp_path):
    driver = offline_chromium(tmp_path / "profile", "--window-size=1280,900")
    yield driver
    driver.quit()


def _offline(driver, base: str) -> None:
    asked, failed = _requests(driver)
    assert failed == [], failed
    assert [u for u in asked if not u.startswith((base, "data:"))] == []


def test_every_lecture_is_reached_from_the_home_page(served, browser):
    base, result, out = served
    browser.get(f"{base}/index.html")
    assert browser.title == "Programming with Python"
    titles = browser.execute_script(
        "return Array.from(document.querySelectorAll('main h2')).map(h => h.textContent);")
    assert titles == ["Python basics", "Working with data", "Performance and waiting"]
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a.nbb-lecture'))"
        ".map(a => [a.textContent, a.getAttribute('href')]);")
    assert [title for title, _ in links] == [r.title for r in result.results]
    for title, href in links:
        browser.get(f"{base}/{href}")
        assert browser.find_element("css selector", "h1").text.startswith(title.split(" —")[0])
        current = browser.execute_script(
            "var a = document.querySelector('.nbb-toc a[aria-current=page]');"
            "return a && a.textContent;")
        assert current == title  # the contents mark this lecture
    _offline(browser, base)


def test_next_previous_and_home_lead_where_they_should(served, browser):
    base, result, _ = served
    pages = [r.outputs["html"].relative_to(served[2]).as_posix() for r in result.results]
    at = pages.index("01-basics/03-control-flow.html")
    browser.get(f"{base}/{pages[at]}")
    _wait(browser, "return document.querySelector('.nbb-pager a.nbb-next');")
    browser.find_element("css selector", ".nbb-pager a.nbb-next").click()
    _wait(browser, f"return location.pathname.endsWith('{pages[at + 1]}');")
    browser.find_element("css selector", ".nbb-pager a.nbb-previous").click()
    _wait(browser, f"return location.pathname.endsWith('{pages[at]}');")
    browser.find_element("css selector", ".nbb-bar a.nbb-home").click()
    _wait(browser, "return location.pathname.endsWith('/index.html');")
    # The first lecture has no previous one, the last no next one.
    browser.get(f"{base}/{pages[0]}")
    assert browser.execute_script("return document.querySelectorAll('.nbb-pager a').length") == 1
    browser.get(f"{base}/{pages[-1]}")
    assert browser.execute_script(
        "return document.querySelector('.nbb-pager a').className") == "nbb-previous"
    _offline(browser, base)


def test_search_finds_a_lecture_by_a_word_only_it_contains(served, browser):
    base, _, out = served
    holders = [p.relative_to(out).as_posix() for p in out.rglob("*.html")
               if "_static" not in p.parts and not p.name.endswith(".slides.html")
               and p.name != "index.html" and _RARE in p.read_text().lower()]
    assert holders == ["02-data/04-numpy.html"]  # the word is where the test thinks
    browser.get(f"{base}/01-basics/01-python-tour.html")
    box = browser.find_element("css selector", ".nbb-search input")
    box.send_keys(_RARE)
    _wait(browser, "return document.querySelectorAll('.nbb-results a').length > 0;")
    hits = browser.execute_script(
        "return Array.from(document.querySelectorAll('.nbb-results a'))"
        ".map(a => a.getAttribute('href'));")
    assert {h.split("#")[0] for h in hits} == {"../02-data/04-numpy.html"}
    browser.find_element("css selector", ".nbb-results a").click()
    _wait(browser, "return location.pathname.endsWith('/02-data/04-numpy.html');")
    anchor = unquote(urlsplit(browser.current_url).fragment)
    if anchor:  # the result names the section of the word: it exists on the page
        assert browser.execute_script("return !!document.getElementById(arguments[0]);", anchor)
    # A word in no lecture says so.
    browser.get(f"{base}/index.html")
    box = browser.find_element("css selector", ".nbb-search input")
    box.send_keys("qwertyuiopasdf")
    _wait(browser, "return document.querySelector('.nbb-results .nbb-none');")
    _offline(browser, base)


def test_at_phone_width_the_contents_open_as_a_menu(served, browser):
    base, _, _ = served
    browser.set_window_size(390, 844)
    browser.get(f"{base}/01-basics/03-control-flow.html")
    width = browser.execute_script("return window.innerWidth")
    assert width <= 400, width
    side = browser.find_element("css selector", "#nbb-side")
    menu = browser.find_element("css selector", ".nbb-menu")
    assert menu.is_displayed() and not side.is_displayed()
    assert menu.get_attribute("aria-expanded") == "false"
    menu.click()
    _wait(browser, "return document.getElementById('nbb-side').offsetWidth > 0;")
    assert menu.get_attribute("aria-expanded") == "true"
    current = browser.find_element("css selector", ".nbb-toc a[aria-current=page]")
    assert current.is_displayed() and current.text == "Control flow"
    browser.set_window_size(1280, 900)
    browser.get(f"{base}/01-basics/03-control-flow.html")
    assert browser.find_element("css selector", "#nbb-side").is_displayed()
    assert not browser.find_element("css selector", ".nbb-menu").is_displayed()


def test_a_tall_slide_scrolls_and_the_deck_links_back_to_its_page(served, browser):
    base, _, _ = served
    browser.get(f"{base}/03-performance/04-table.slides.html")
    _wait(browser, "return window.Reveal && Reveal.isReady();")
    browser.execute_script("Reveal.slide(1, 0);")
    _wait(browser, "var s = document.querySelector('.slides section.present:not(.stack)');"
                   "return s && s.textContent.includes('row 29');")
    sizes = _wait(browser, """
        var s = document.querySelector('.slides section.present:not(.stack)');
        return s.classList.contains('nbb-scrolls') && [s.scrollHeight, s.clientHeight];""")
    assert sizes[0] > sizes[1]  # the table's rows are there, to scroll to
    number = browser.execute_script("return document.querySelector('.slide-number').textContent")
    assert "".join(number.split()) == "2/2"
    back = browser.find_element("css selector", "a.nbb-back")
    assert back.get_attribute("href").endswith("/03-performance/04-table.html")
    _offline(browser, base)
