"""A built course works with no network at all: a deck in a subfolder and a page,
opened from file:// and from a local server in Debian's chromium with every request
that would leave the machine blocked. reveal.js runs, fragments wait, math is
typeset, a mermaid diagram is shown (as its source), and nothing was fetched from
outside."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time

import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbbuild import build, load_settings

from .test_browser import start_chromium

pytestmark = [pytest.mark.integration, pytest.mark.browser]

_MERMAID = "```mermaid\ngraph LR\n  Lecture --> Exercise\n```"


@pytest.fixture
def offline_course(tmp_path, private_tmp):
    import nbformat

    course = tmp_path / "c"
    (course / "part1").mkdir(parents=True)
    cells = [
        new_markdown_cell("# Euler\n\n$$e^{i\\pi} + 1 = 0$$",
                          metadata={"slideshow": {"slide_type": "slide"}}),
        new_markdown_cell("Revealed later", metadata={"slideshow": {"slide_type": "fragment"}}),
        new_markdown_cell(_MERMAID, metadata={"slideshow": {"slide_type": "slide"}}),
        new_markdown_cell("Say it slowly.", metadata={"slideshow": {"slide_type": "notes"}}),
        new_code_cell("print(6 * 7)"),
    ]
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    nbformat.write(new_notebook(cells=cells, metadata=meta), course / "part1" / "deck.ipynb")
    result = build(load_settings(course, workers=1))
    assert result.ok, [str(r.error) for r in result.results]
    return course / "_build"


def offline_chromium(profile, *flags: str):
    """Chromium that cannot reach any host but 127.0.0.1, logging every request."""
    return start_chromium(
        profile, *flags,
        # Every host name fails to resolve: nothing can leave the machine.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        capabilities={"goog:loggingPrefs": {"performance": "ALL"}})


@pytest.fixture
def offline_browser(tmp_path):
    driver = offline_chromium(tmp_path / "profile", "--allow-file-access-from-files")
    yield driver
    driver.quit()


def _requests(driver) -> tuple[list[str], list[str]]:
    """URLs the page asked for, and those that failed, from the performance log."""
    asked, failed, ids = [], [], {}
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.requestWillBeSent":
            if params["request"]["url"].startswith(("chrome://", "about:")):
                continue  # the browser's own pages, empty frames
            ids[params["requestId"]] = params["request"]["url"]
            asked.append(params["request"]["url"])
        elif message["method"] == "Network.loadingFailed" and params["requestId"] in ids:
            failed.append(ids.get(params["requestId"], "?") + " " + params.get("errorText", ""))
    return asked, failed


def _wait(driver, script: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not true in {timeout} s: {script}")


def _check_deck(driver, url: str) -> list[str]:
    driver.get_log("performance")  # what the browser did before: not the course's
    driver.get(url)
    _wait(driver, "return window.Reveal && Reveal.isReady();")
    fragment = "return document.querySelector('.fragment').classList.contains('visible');"
    assert driver.execute_script(fragment) is False
    driver.execute_script("Reveal.next();")
    _wait(driver, fragment)
    _wait(driver, "return document.querySelectorAll('mjx-container').length > 0;")
    notes = driver.execute_script("return Reveal.getSlides().map(s => Reveal.getSlideNotes(s))"
                                  ".filter(n => n).join(' ');")
    assert "Say it slowly." in notes
    asked, failed = _requests(driver)
    assert failed == [], "\n".join(failed + ["--- asked:"] + asked)
    return asked


def test_a_deck_in_a_subfolder_and_a_page_work_from_file_urls_offline(
        offline_course, offline_browser):
    asked = _check_deck(offline_browser, (offline_course / "part1" / "deck.slides.html").as_uri())
    offline_browser.get_log("performance")
    offline_browser.get((offline_course / "part1" / "deck.html").as_uri())
    _wait(offline_browser, "return document.querySelectorAll('mjx-container').length > 0;")
    mermaid = offline_browser.execute_script(
        "var d = document.querySelector('.jp-Mermaid, pre.mermaid, code.language-mermaid');"
        "return d && d.offsetHeight > 0 ? d.textContent : null;")
    assert mermaid and "Lecture --> Exercise" in mermaid
    assert "Say it slowly." not in offline_browser.page_source  # notes: not on pages
    more, failed = _requests(offline_browser)
    assert failed == []
    outside = [u for u in asked + more if not u.startswith(("file://", "data:", "about:"))]
    assert outside == []


def test_a_deck_works_from_a_static_server_with_no_network(offline_course, offline_browser):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler,
                                directory=str(offline_course))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        asked = _check_deck(offline_browser, f"{base}/part1/deck.slides.html")
        outside = [u for u in asked if not u.startswith((base, "data:", "about:"))]
        assert outside == []
    finally:
        server.shutdown()
        server.server_close()


def test_every_page_and_deck_of_the_demo_course_loads_nothing_from_outside(
        course, private_tmp, offline_browser):
    """fixtures/course, every page and deck opened from file:// with the network
    blocked: no request leaves the machine and none fails."""
    assert build(load_settings(course, workers=4)).ok
    out = course / "_build"
    pages = sorted(p for p in out.rglob("*.html") if "_static" not in p.parts)
    outside, failures = [], []
    for page in pages:
        offline_browser.get_log("performance")
        offline_browser.get(page.as_uri())
        if page.name.endswith(".slides.html"):
            _wait(offline_browser, "return window.Reveal && Reveal.isReady();")
        _wait(offline_browser, "return document.readyState === 'complete';")
        time.sleep(0.3)  # fonts and MathJax's own loads
        asked, failed = _requests(offline_browser)
        outside += [u for u in asked if not u.startswith(("file://", "data:"))]
        failures += failed
    print(f"\n{len(pages)} pages and decks of fixtures/course opened offline: "
          f"{len(outside)} requests left the machine, {len(failures)} failed")
    assert len(pages) == 27  # 13 pages, 13 decks, the index
    assert outside == [] and failures == []
