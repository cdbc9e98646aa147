"""End to end: fixtures/course built with real kernels and real nbconvert."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from nbbuild import build, load_settings
from nbbuild.model import Status
from nbbuild.report.progress import NullReporter

from ..conftest import kernel_processes, run_nbbuild, write_notebook

pytestmark = pytest.mark.integration

NOTEBOOKS = 13
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def snapshot(out: Path) -> dict[str, bytes]:
    """Every output file, with the only volatile thing a page may hold (object
    addresses) masked; builds are otherwise expected to be byte-identical. nbbuild's
    own records of the folder (owner, files written) name the course's path."""
    files = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.name.startswith(".nbbuild-"):
            files[path.relative_to(out).as_posix()] = _ADDRESS.sub(
                " at 0x?", path.read_text("utf-8", "replace")).encode()
    return files


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, bytes]:
    """fixtures/course built one notebook at a time, for the matrix to compare with."""
    from ..conftest import copy_course

    root = tmp_path_factory.mktemp("reference")
    course = copy_course("course", root)
    result = build(load_settings(course, workers=1))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    return snapshot(course / "_build")


@pytest.mark.xdist_group("course-matrix")
@pytest.mark.parametrize("workers", [1, 2, 4])
def test_matrix_same_outputs_for_every_worker_count(course, private_tmp, reference, workers):
    result = build(load_settings(course, workers=workers))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    assert len(result.results) == NOTEBOOKS
    out = snapshot(course / "_build")
    assert sorted(out) == sorted(reference)
    different = [name for name in out if out[name] != reference[name]]
    assert different == []
    assert kernel_processes(private_tmp) == []


def test_card_command_builds_three_outputs_per_notebook(course, private_tmp):
    proc = run_nbbuild(str(course), "--workers", "4")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{NOTEBOOKS} notebooks: {NOTEBOOKS} built ({NOTEBOOKS} executed" in proc.stdout
    out = course / "_build"
    stems = [p.with_suffix("") for p in course.rglob("*.ipynb") if "_build" not in p.parts]
    stems += [p.with_suffix("") for p in course.rglob("[0-9]*.py") if "_build" not in p.parts]
    assert len(stems) == NOTEBOOKS
    for stem in stems:
        rel = stem.relative_to(course)
        for suffix in (".html", ".slides.html", ".ipynb"):
            assert (out / f"{rel}{suffix}").is_file(), f"{rel}{suffix} missing"
    assert not list(out.rglob("*.tmp"))
    assert kernel_processes(private_tmp) == []

    # Executed, with the plot, the data file, the helper module and the image.
    plot = (out / "02-data/03-plotting.html").read_text()
    assert "data:image/png;base64," in plot
    assert "Two waves" not in plot or "image/png" in plot
    helpers = nbformat.read(out / "02-data/02-using-helpers.ipynb", as_version=4)
    assert helpers.cells[1].outputs[0].data["text/plain"] == "8"
    assert "north" in (out / "02-data/01-reading-data.html").read_text()
    welcome = (out / "00-welcome.html").read_text()
    assert 'src="img/logo.png"' in welcome and (out / "img/logo.png").is_file()
    unicode_page = (out / "01-basics/02-unicode.html").read_text(encoding="utf-8")
    assert "こんにちは" in unicode_page and "Grüße" in unicode_page
    # The .py lecture became a real notebook with its kernelspec and outputs.
    tour = nbformat.read(out / "01-basics/01-python-tour.ipynb", as_version=4)
    assert tour.metadata.language_info.name == "python"
    assert any(c.get("outputs") for c in tour.cells if c.cell_type == "code")


def test_index_links_every_page_in_course_order(course, private_tmp):
    result = build(load_settings(course, workers=2, formats="html"))
    index = (course / "_build" / "index.html").read_text()
    links = re.findall(r'<a class="nbb-lecture" href="([^"]+)">', index)
    assert links == [str(r.outputs["html"].relative_to(course / "_build")) for r in result.results]
    assert links[0] == "00-welcome.html" and links[-1] == "03-performance/03-deck.html"
    assert "<h1>Programming with Python</h1>" in index  # title from nbbuild.toml
    assert "Status" not in index and "built" not in index  # for students, not a dashboard
    assert not (course / "_build" / "00-welcome.slides.html").exists()  # only html asked


def test_each_notebook_executes_exactly_once_per_build(tmp_path, private_tmp):
    course = tmp_path / "c"
    log = tmp_path / "runs.log"
    for name in ("a", "b"):
        write_notebook(course / f"{name}.ipynb",
                       f"with open({str(log)!r}, 'a') as f:\n    f.write('{name}\\n')")
    result = build(load_settings(course, workers=2, formats="html,slides,notebook"))
    assert result.ok
    assert sorted(log.read_text().split()) == ["a", "b"]  # 3 formats, 1 execution each
    build(load_settings(course, workers=2), force=True)
    assert sorted(log.read_text().split()) == ["a", "a", "b", "b"]


def test_no_state_leaks_between_notebooks(tmp_path, private_tmp):
    """Same module name, env var and seed in two folders: each notebook sees only
    its own, as with a fresh `jupyter nbconvert --execute`, even on one worker."""
    course = tmp_path / "c"
    for folder, word in (("a", "alpha"), ("b", "beta")):
        (course / folder).mkdir(parents=True)
        (course / folder / "helpers.py").write_text(f"WORD = {word!r}\n")
    write_notebook(course / "a" / "first.ipynb",
                   "import os, sys, helpers, random\nos.environ['LEAK'] = '1'\n"
                   "sys.path.append('/leak')\nrandom.seed(1)\nrandom.random()\nLEFT_OVER = 1",
                   "print(helpers.WORD)")
    write_notebook(course / "b" / "second.ipynb",
                   "import os, sys, helpers\n"
                   "print(helpers.WORD, os.environ.get('LEAK'), '/leak' in sys.path,\n"
                   "      'LEFT_OVER' in globals(), os.path.basename(os.getcwd()))")
    result = build(load_settings(course, workers=1, formats="notebook"))
    assert result.ok
    second = nbformat.read(course / "_build/b/second.ipynb", as_version=4)
    assert second.cells[0].outputs[0].text == "beta None False False b\n"
    assert second.cells[0].execution_count == 1


def test_outputs_of_a_failing_notebook_are_replaced_or_removed(tmp_path, private_tmp):
    """By default a lecture that now fails gets its outputs under the banner; with
    failed_pages = "omit" its old outputs are removed. Either way the home page
    does not offer it to students."""
    course = tmp_path / "c"
    write_notebook(course / "n.ipynb", "x = 1")
    assert build(load_settings(course, workers=1)).ok
    assert (course / "_build/n.html").exists()
    write_notebook(course / "n.ipynb", "raise ValueError('now broken')")
    result = build(load_settings(course, workers=1))
    assert result.results[0].status is Status.FAILED
    for suffix in (".html", ".slides.html", ".ipynb"):
        text = (course / "_build" / f"n{suffix}").read_text()
        assert "This lecture failed to build." in text and "now broken" in text
    index = (course / "_build/index.html").read_text()
    assert "n.html" not in index  # a failed lecture is not offered to students
    assert "failed" not in index
    (course / "nbbuild.toml").write_text('failed_pages = "omit"\n')
    result = build(load_settings(course, workers=1))
    assert result.results[0].status is Status.FAILED and result.executed == 0
    assert not any((course / "_build" / f"n{s}").exists() for s in (".html", ".slides.html", ".ipynb"))


def test_output_folder_is_never_read_back_as_sources(course, private_tmp):
    first = build(load_settings(course, workers=4, out=str(course / "site")))
    second = build(load_settings(course, workers=4))  # default _build; site/ holds .ipynb files
    assert len(first.results) == len(second.results) == NOTEBOOKS
    assert json.loads((course / "site/00-welcome.ipynb").read_text())["cells"]


def test_run_times_are_kept_and_order_the_next_build(tmp_path, private_tmp):
    """The second build starts the slow notebook first, and its results stay in
    course order."""
    course = tmp_path / "c"
    write_notebook(course / "1-quick.ipynb", "print(1)")
    write_notebook(course / "2-slow.ipynb", "import time; time.sleep(1.5)")
    first = build(load_settings(course, workers=1, formats="notebook"))
    assert first.ok and (course / ".nbbuild" / "nbbuild.db").is_file()
    started = []

    class Recorder(NullReporter):
        def notebook_started(self, source):
            started.append(str(source.rel))

    second = build(load_settings(course, workers=1, formats="notebook"), Recorder(), force=True)
    assert started == ["2-slow.ipynb", "1-quick.ipynb"]
    assert [str(r.source.rel) for r in second.results] == ["1-quick.ipynb", "2-slow.ipynb"]


def test_an_unusable_store_warns_and_the_build_goes_on(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "print(1)")
    (course / ".nbbuild").mkdir()
    (course / ".nbbuild" / "nbbuild.db").write_bytes(b"garbage" * 500)
    import io

    from nbbuild.report.progress import PlainReporter

    stream = io.StringIO()
    result = build(load_settings(course, workers=1), PlainReporter(stream))
    assert result.ok
    assert "warning: " in stream.getvalue() and "nbbuild.db: cannot be used" in stream.getvalue()


@pytest.mark.xdist_group("course-matrix")
def test_forked_and_normally_started_kernels_give_identical_outputs(
    course, private_tmp, reference
):
    result = build(load_settings(course, workers=4, fork_kernels=False))
    assert result.ok
    assert snapshot(course / "_build") == reference  # the reference used forked kernels


@pytest.mark.xdist_group("course-matrix")
def test_preloaded_kernels_give_identical_outputs(course, private_tmp, reference):
    """numpy and matplotlib imported once in the template: the plotting lecture's
    figure and every other output stay byte-identical."""
    config = course / "nbbuild.toml"
    config.write_text('preload = ["numpy", "matplotlib.pyplot"]\n' + config.read_text())
    result = build(load_settings(course, workers=4))
    assert result.ok and result.forked
    assert snapshot(course / "_build") == reference


@pytest.mark.xdist_group("course-matrix")
def test_a_local_dask_cluster_gives_identical_outputs(course, private_tmp, reference):
    """Executed on 2 Dask worker processes, exported by the coordinator: the same
    files, byte for byte, and each notebook says which worker ran it."""
    result = build(load_settings(course, workers=2, cluster="local:2"))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    assert snapshot(course / "_build") == reference
    workers = {r.worker for r in result.results}
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers) and len(workers) == 2
    assert {n["worker"] for n in result.report["notebooks"]} == workers
    assert kernel_processes(private_tmp) == []
