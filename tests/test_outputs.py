import os
from pathlib import Path, PurePosixPath

import pytest

from nbbuild.layout import output_paths
from nbbuild.model import NotebookResult, Source, SourceKind, Status
from nbbuild.outputs import copy_assets, prepare, remove_outputs, write_atomic, write_index


def test_write_atomic_replaces_whole_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "deep" / "page.html"
    write_atomic(target, b"first")
    write_atomic(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["page.html"]


def test_write_atomic_failure_keeps_the_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / "page.html"
    write_atomic(target, b"good")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomic(target, b"partial")
    assert target.read_bytes() == b"good"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]


def test_copy_assets_mirrors_and_skips_unchanged(tmp_path):
    course, out = tmp_path / "c", tmp_path / "o"
    (course / "img").mkdir(parents=True)
    (course / "img" / "logo.png").write_bytes(b"png")
    rel = [PurePosixPath("img/logo.png")]
    assert copy_assets(course, out, rel) == 1
    assert (out / "img" / "logo.png").read_bytes() == b"png"
    assert copy_assets(course, out, rel) == 0  # same size and mtime
    (course / "img" / "logo.png").write_bytes(b"png2")
    assert copy_assets(course, out, rel) == 1
    assert (out / "img" / "logo.png").read_bytes() == b"png2"


def _result(tmp_path, rel, status, outputs=()):
    src = Source(path=tmp_path / rel, rel=PurePosixPath(rel), kind=SourceKind.IPYNB)
    out = tmp_path / "o"
    paths = {f: out / PurePosixPath(rel).with_suffix(s) for f, s in outputs}
    return NotebookResult(src, status, outputs=paths, title=f"Title of {rel}")


def test_index_links_pages_in_order_and_marks_failures(tmp_path):
    out = tmp_path / "o"
    prepare(out)
    results = [
        _result(tmp_path, "intro.ipynb", Status.BUILT, [("html", ".html"), ("slides", ".slides.html")]),
        _result(tmp_path, "part/b <&>.ipynb", Status.BUILT, [("html", ".html")]),
        _result(tmp_path, "part/c.ipynb", Status.FAILED),
    ]
    page = write_index(out, "My course", results).read_text()
    assert page.index("Title of intro.ipynb") < page.index("part/") < page.index("part/c.ipynb")
    assert 'href="intro.html"' in page and 'href="intro.slides.html"' in page
    assert "b &lt;&amp;&gt;" in page  # escaped
    assert '<td class="bad">failed</td>' in page


def test_remove_outputs_deletes_only_that_notebooks_files(tmp_path):
    for name in ["a.html", "a.slides.html", "a.ipynb", "b.html"]:
        (tmp_path / name).write_text("x")
    remove_outputs(tmp_path, output_paths(PurePosixPath("a"), ("html", "slides", "notebook")).values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.html"]


def test_prepare_marks_the_output_folder(tmp_path):
    prepare(tmp_path / "out")
    assert (tmp_path / "out" / ".nbbuild-output").is_file()
    assert isinstance(tmp_path, Path)
