import os
from pathlib import PurePosixPath

import pytest

from nbbuild.render.outputs import copy_assets, write_atomic


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
    assert copy_assets(course, out, rel) == (rel, [])
    assert (out / "img" / "logo.png").read_bytes() == b"png"
    before = (out / "img" / "logo.png").stat().st_ino
    assert copy_assets(course, out, rel) == (rel, [])  # same size and mtime: not copied
    assert (out / "img" / "logo.png").stat().st_ino == before
    (course / "img" / "logo.png").write_bytes(b"png2")
    assert copy_assets(course, out, rel) == (rel, [])
    assert (out / "img" / "logo.png").read_bytes() == b"png2"


def test_one_file_that_cannot_be_copied_does_not_stop_the_others(tmp_path):
    course, out = tmp_path / "c", tmp_path / "o"
    course.mkdir()
    (course / "a.txt").write_text("a")
    (course / "z.txt").write_text("z")
    rels = [PurePosixPath("a.txt"), PurePosixPath("gone.txt"), PurePosixPath("z.txt")]
    present, problems = copy_assets(course, out, rels)
    assert present == [rels[0], rels[2]] and (out / "z.txt").read_text() == "z"
    assert len(problems) == 1 and problems[0].startswith("gone.txt: not copied")
