"""The preview server: only the output folder, pages with live reload, events."""

from __future__ import annotations

import http.client
import json
import threading
from pathlib import PurePosixPath

import pytest

from nbbuild.config import load_settings
from nbbuild.errors import CellError
from nbbuild.model import NotebookResult, Source, SourceKind, Status
from nbbuild.watch.guards import safe_path
from nbbuild.watch.server import PreviewServer


@pytest.fixture
def site(tmp_path):
    out = tmp_path / "course" / "_build"
    (out / "part").mkdir(parents=True)
    (out / "index.html").write_text("<html><body><h1>Index</h1></body></html>")
    (out / "part" / "page.html").write_text("<html><body><p>page</p></body></html>")
    (out / "part" / "data.csv").write_text("a,b\n")
    (tmp_path / "secret.txt").write_text("do not serve")
    (out / "escape").symlink_to(tmp_path)  # a symlink leading out
    (out / "inner").symlink_to(out / "part")  # one that stays in
    server = PreviewServer(out, port=0).start()
    yield server, out
    server.close()


def _get(server: PreviewServer, raw_path: str) -> tuple[int, bytes]:
    host, port = server._http.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.putrequest("GET", raw_path, skip_accept_encoding=True)  # the path exactly as given
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


@pytest.mark.parametrize("raw", [
    "/../secret.txt",
    "/part/../../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/part/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/%252e%252e/secret.txt",
    "/..%5csecret.txt",
    "/part/..\\..\\secret.txt",
    "/escape/secret.txt",
    "/%00index.html",
    "/C:/secret.txt",
])
def test_requests_outside_the_output_folder_are_refused(site, raw):
    server, _ = site
    status, body = _get(server, raw)
    assert status in (403, 404) and b"do not serve" not in body


def test_files_inside_are_served_and_pages_get_the_live_reload_script(site):
    server, _ = site
    status, body = _get(server, "/part/data.csv")
    assert status == 200 and body == b"a,b\n"
    status, body = _get(server, "/part/page.html")
    assert status == 200 and b"<p>page</p>" in body and b"/_nbbuild/events" in body
    assert body.index(b"/_nbbuild/events") < body.index(b"</body>")
    status, body = _get(server, "/")
    assert status == 200 and b"Index" in body
    status, _ = _get(server, "/inner/page.html")  # a symlink that stays inside
    assert status == 200
    status, _ = _get(server, "/part/missing.html")
    assert status == 404


def test_safe_path_rules(tmp_path):
    (tmp_path / "a b.html").write_text("x")
    assert safe_path(tmp_path, "/a%20b.html") == tmp_path / "a b.html"
    assert safe_path(tmp_path, "/a b.html/..") is None
    assert safe_path(tmp_path, "/./a%20b.html") == tmp_path / "a b.html"


def test_events_tell_open_pages_what_was_built_or_why_it_failed(site, tmp_path):
    server, _ = site
    host, port = server._http.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", "/_nbbuild/events")
    response = conn.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    assert response.fp.readline() == b": connected\n"
    response.fp.readline()

    settings = load_settings(tmp_path / "course")
    source = Source(tmp_path / "course" / "part" / "page.py", PurePosixPath("part/page.py"),
                    SourceKind.PERCENT)
    error = CellError("part/page.py", "cell 2 raised ZeroDivisionError: division by zero",
                      cell=2, traceback="Traceback ... ZeroDivisionError")
    threading.Timer(0.2, server.notebook_done,
                    [NotebookResult(source, Status.FAILED, error=error), settings]).start()
    assert response.fp.readline() == b"event: built\n"
    data = json.loads(response.fp.readline().decode().removeprefix("data: "))
    page = next(o for o in data["outputs"] if o["path"] == "part/page.html")
    assert page["status"] == "failed" and "cell 2" in page["error"]
    assert "Traceback" in page["error"]
    conn.close()
    status, body = _get(server, "/_nbbuild/status?path=part/page.html")
    assert status == 200 and json.loads(body)["status"] == "failed"
    # The preview's home page lists what is not built (the published one does not).
    status, body = _get(server, "/_nbbuild/status")
    assert json.loads(body)["failures"] == [{
        "source": "part/page.py", "status": "failed",
        "reason": "part/page.py: cell 2 raised ZeroDivisionError: division by zero"}]
