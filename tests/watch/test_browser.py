"""The built pages in a real browser: Debian's chromium, driven by Selenium.

The pages are served from the output folder over HTTP on 127.0.0.1, as a course
site would be. Chromium and chromedriver are installed by .ci/run (apt packages
chromium and chromium-driver); without them this test fails, it never skips.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from nbbuild import build, load_settings

from ..conftest import default_sigint

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def site(course, private_tmp):
    result = build(load_settings(course, workers=4))
    assert result.ok
    out = course / "_build"
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def start_chromium(profile, *flags: str, capabilities: dict | None = None):
    """Headless Debian chromium through chromedriver, with a profile of its own."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", *flags):
        options.add_argument(flag)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


@pytest.fixture
def browser(tmp_path):
    driver = start_chromium(tmp_path / "profile")
    yield driver
    driver.quit()


_IMAGES_LOADED = """
return Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 30),
                                             i.complete && i.naturalWidth > 0]);
"""


def test_pages_show_outputs_the_plot_and_the_image(site, browser, tmp_path):
    browser.get(f"{site}/index.html")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('a.nbb-lecture')).map(a => a.textContent)")
    assert links[0].startswith("Welcome") and len(links) == 13

    browser.get(f"{site}/00-welcome.html")
    images = browser.execute_script(_IMAGES_LOADED)
    assert ["img/logo.png", True] in images  # the image by relative path loads
    browser.save_screenshot(str(tmp_path / "welcome.png"))

    browser.get(f"{site}/02-data/03-plotting.html")
    images = browser.execute_script(_IMAGES_LOADED)
    assert images and all(ok for _, ok in images)
    assert any(src.startswith("data:image/png;base64") for src, _ in images)  # the plot
    assert ["../img/logo.png", True] in images  # the course's logo in the bar
    text = browser.find_element("tag name", "body").text
    assert "Plotting with matplotlib" in text and "[0.    0.032 0.063 0.095 0.126]" in text

    browser.get(f"{site}/02-data/02-using-helpers.html")
    body = browser.find_element("tag name", "body").text
    assert "1491.0" in body and "'north': 460" in body  # outputs of the executed cells


LIVE = """# %% [markdown]
# # Live lecture

# %%
{code}
print("the lecture says v{version}")
"""


def _until(check, timeout: float = 30):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # the page is reloading under the driver
            value = None
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("the page did not get there in time")


def test_watch_serve_reloads_the_open_page_and_shows_a_failing_edit(tmp_path, private_tmp,
                                                                    browser):
    import re
    import signal
    import subprocess
    import sys

    course = tmp_path / "live"
    course.mkdir()
    lecture = course / "lecture.py"
    lecture.write_text(LIVE.format(code="x = 1", version=1))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbbuild", "watch", str(course), "--serve", "--port", "0",
         "-j", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint,
    )
    try:
        url = None
        while url is None:
            line = proc.stdout.readline()
            assert line, "nbbuild watch ended early"
            found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            url = found and found.group(1)
        _until(lambda: (course / "_build" / "lecture.html").is_file(), 60)
        browser.get(url + "lecture.html")
        body = lambda: browser.find_element("tag name", "body").text  # noqa: E731
        _until(lambda: "the lecture says v1" in body())

        browser.execute_script("window.__before_edit = true")
        lecture.write_text(LIVE.format(code="x = 2", version=2))
        _until(lambda: browser.execute_script("return window.__before_edit === undefined")
               and "the lecture says v2" in body())

        lecture.write_text(LIVE.format(code="1 / 0", version=3))
        error = _until(lambda: browser.execute_script(
            "var e = document.getElementById('nbbuild-error'); return e && e.textContent"))
        assert "lecture.py" in error and "cell 2" in error and "ZeroDivisionError" in error
        assert browser.find_element("id", "nbbuild-error").is_displayed()

        lecture.write_text(LIVE.format(code="x = 4", version=4))
        _until(lambda: "the lecture says v4" in body()
               and not browser.find_elements("id", "nbbuild-error"))
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert "stopped watching" in out
    # the failing edit was printed with its file, cell and traceback, and the loop went on
    failure = out[out.index("FAILED lecture.py"):]
    assert "cell 2" in failure.splitlines()[0] and "ZeroDivisionError" in failure
    assert "Traceback" in failure or "----> " in failure
    assert out.index("FAILED lecture.py") < out.rindex("built lecture.py")
