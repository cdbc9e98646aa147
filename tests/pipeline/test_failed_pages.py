"""Failures are results: a notebook whose own code failed is rendered under a
banner, kept, and not executed again until something it depends on changes."""

import json

import nbformat
import pytest

from nbbuild import build, load_settings
from nbbuild.model import Status
from nbbuild.store.database import Store

from ..conftest import kernel_processes, run_nbbuild, write_notebook

pytestmark = pytest.mark.integration


def _failing_course(root):
    write_notebook(root / "good.ipynb", "# Good", "print('fine')")
    write_notebook(root / "bad.ipynb", "# Bad lecture", "x = 40", "print('before', x)",
                   "raise ValueError('broken on purpose')", "# After the failure",
                   "print('never printed')")
    return root


def test_a_failed_lecture_shows_every_cell_up_to_the_failure_under_a_banner(
        tmp_path, private_tmp):
    course = _failing_course(tmp_path / "c")
    result = build(load_settings(course, workers=2))
    bad = {r.source.rel.name: r for r in result.results}["bad.ipynb"]
    assert bad.status is Status.FAILED and "cell 4, line 1 raised ValueError" in str(bad.error)
    out = course / "_build"
    for name in ("bad.html", "bad.slides.html"):
        page = (out / name).read_text()
        assert "This lecture failed to build." in page
        assert "before 40" in page and "broken on purpose" in page  # outputs and traceback
        assert "never printed" not in page and "After the failure" not in page
    nb = nbformat.read(out / "bad.ipynb", as_version=4)
    assert "nbbuild-failed" in nb.cells[0].metadata["tags"]
    assert [c.cell_type for c in nb.cells] == ["markdown", "markdown", "code", "code", "code"]
    assert nb.cells[-1].outputs[0].output_type == "error"
    home = (out / "index.html").read_text()
    assert "good.html" in home and "bad.html" not in home  # students are not sent there
    assert kernel_processes(private_tmp) == []


def test_an_unchanged_failure_is_reported_not_run_and_still_fails_the_build(
        tmp_path, private_tmp):
    course = _failing_course(tmp_path / "c")
    first = run_nbbuild(str(course), "-j", "2")
    assert first.returncode == 1
    again = run_nbbuild(str(course), "-j", "2", "--report", str(tmp_path / "r.json"))
    assert again.returncode == 1, again.stdout
    assert "FAILED bad.ipynb: cell 4, line 1 raised ValueError: broken on purpose" in again.stdout
    assert "(failed, unchanged since " in again.stdout and "--retry-failed" in again.stdout
    assert "1 failed (1 unchanged)" in again.stdout
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["counts"]["executed"] == 0
    assert (course / "_build/bad.html").is_file()  # kept, under its banner
    retried = build(load_settings(course, workers=2), retry_failed=True)
    assert [r.source.rel.name for r in retried.results if r.action == "executed"] == ["bad.ipynb"]
    # fixing the code runs it, and the banner is gone
    write_notebook(course / "bad.ipynb", "# Bad lecture", "print('fixed')")
    fixed = build(load_settings(course, workers=2))
    assert fixed.ok and fixed.executed == 1
    assert "failed to build" not in (course / "_build/bad.html").read_text()


def test_a_timed_out_cell_is_kept_as_a_failure_without_asking_its_busy_kernel(
        tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "slow.ipynb", "print('started')", "import time\ntime.sleep(60)")
    result = build(load_settings(course, workers=1, timeout=2))
    [slow] = result.results
    assert slow.status is Status.FAILED and "timed out after 2 s" in str(slow.error)
    assert result.wall_time < 30
    page = (course / "_build/slow.html").read_text()
    assert "started" in page and "timed out" in page
    again = build(load_settings(course, workers=1, timeout=2))
    assert again.executed == 0 and again.results[0].status is Status.FAILED
    assert kernel_processes(private_tmp) == []


def test_a_kernel_that_dies_is_retried_every_build(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "dies.ipynb", "import os\nos._exit(3)")
    for _ in range(2):
        result = build(load_settings(course, workers=1))
        assert result.results[0].status is Status.ERRORED and result.executed == 1
        assert not (course / "_build/dies.html").exists()
    with Store(course / ".nbbuild") as store:
        record = store.notebook("dies.ipynb")
        assert record.status == "errored"
        assert store.execution(f"failed:{record.exec_key}") is None


def test_omit_leaves_failed_lectures_out_of_a_published_build(tmp_path, private_tmp):
    course = _failing_course(tmp_path / "c")
    (course / "nbbuild.toml").write_text('failed_pages = "omit"\n')
    result = build(load_settings(course, workers=2))
    assert not result.ok
    assert not list((course / "_build").glob("bad.*"))
    assert (course / "_build/good.html").is_file()


def test_failed_pages_must_be_banner_or_omit(tmp_path):
    (tmp_path / "nbbuild.toml").write_text('failed_pages = "hide"\n')
    proc = run_nbbuild(str(tmp_path))
    assert proc.returncode == 2 and 'failed_pages must be "banner" or "omit"' in proc.stderr
