"""Only regular files from inside the course are read or copied; legal but hostile
input (deep JSON, huge files, odd names) fails only its own notebook."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from nbbuild.config import load_settings
from nbbuild.course.discover import discover

from ..conftest import run_nbbuild, write_notebook

pytestmark = pytest.mark.integration


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A course with every kind of entry that is not a plain file of its own."""
    course = tmp_path / "C"
    (course / "data").mkdir(parents=True)
    (course / "data" / "real.csv").write_text("x\n1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for students")
    (outside / "shared").mkdir()
    (outside / "shared" / "allowed.csv").write_text("y\n2\n")
    (course / "shadow.txt").symlink_to(outside / "secret.txt")
    (course / "urandom.ipynb").symlink_to("/dev/urandom")
    (course / "zero.bin").symlink_to("/dev/zero")
    (course / "dangling.csv").symlink_to(tmp_path / "nowhere")
    (course / "linked-data").symlink_to(course / "data")  # inside: copied as content
    (course / "loop").symlink_to(course)  # a loop: never followed
    (course / "shared").symlink_to(outside / "shared")  # allowed by path below
    os.mkfifo(course / "x.ipynb")
    os.mkfifo(course / "helper.py")
    write_notebook(course / "a.ipynb", "print(open('data/real.csv').read())")
    (course / "z-last.txt").write_text("copied after the dangling link")
    (course / "nbbuild.toml").write_text('allow_links = ["shared"]\n')
    return course


def test_links_out_fifos_and_devices_are_skipped_with_one_warning_each(hostile):
    course = discover(load_settings(hostile))
    assets = {str(a) for a in course.assets}
    assert {"data/real.csv", "linked-data/real.csv", "shared/allowed.csv", "z-last.txt"} <= assets
    assert not assets & {"shadow.txt", "zero.bin", "dangling.csv", "helper.py"}
    assert [str(s.rel) for s in course.sources] == ["a.ipynb"]
    skipped = "\n".join(course.skipped)
    for name in ("shadow.txt", "urandom.ipynb", "zero.bin", "dangling.csv", "x.ipynb",
                 "helper.py"):
        assert sum(line.startswith(name + ":") for line in course.skipped) == 1, skipped
    assert "leading out of the course" in skipped and "a link to nothing" in skipped
    assert "not a regular file" in skipped
    loops = [line for line in course.skipped if line.startswith("loop")]
    assert len(loops) == 1 and "a link to a folder that holds it (a loop)" in loops[0]


def test_a_course_with_hostile_entries_builds_the_rest_promptly(hostile):
    began = time.monotonic()
    built = run_nbbuild("build", str(hostile), "-j", "1", timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    assert time.monotonic() - began < 60  # no FIFO or device read hangs it
    out = hostile / "_build"
    assert (out / "a.html").is_file() and (out / "z-last.txt").is_file()
    assert (out / "linked-data" / "real.csv").read_text() == "x\n1\n"
    assert not (out / "linked-data").is_symlink()
    assert not (out / "shadow.txt").exists() and not (out / "zero.bin").exists()
    assert "shadow.txt: a link leading out of the course" in built.stdout + built.stderr


def test_deep_or_huge_input_fails_only_its_notebook(tmp_path):
    course = tmp_path / "C"
    write_notebook(course / "good.ipynb", "print('fine')")
    text = (course / "good.ipynb").read_text()
    head, tail = text.rsplit('"metadata": {', 1)  # the notebook's, not empty
    nested = "[" * 1000 + "]" * 1000  # legal JSON, 1,000 levels deep
    (course / "deep.ipynb").write_text(f'{head}"metadata": {{"deep": {nested}, {tail}')
    (course / "big.py").write_text("# %%\n" + "x = 1\n" * 300_000)
    (course / "nbbuild.toml").write_text("max_source_mb = 1\n")
    built = run_nbbuild("build", str(course), "-j", "1")
    text = built.stdout + built.stderr
    assert built.returncode == 1, text
    assert "Traceback" not in built.stderr
    assert "deep.ipynb" in text and "nested" in text
    assert "big.py" in text and "1 MB limit on sources (max_source_mb)" in text
    assert (course / "_build" / "good.html").is_file()


def test_long_names_build_and_names_with_a_line_break_are_reported(tmp_path):
    course = tmp_path / "C"
    long_name = "l" * 230 + ".ipynb"  # 236 characters: the page is 235
    write_notebook(course / long_name, "print('long')")
    write_notebook(course / "new\nline.ipynb", "print('newline')")
    built = run_nbbuild("build", str(course), "-j", "1", "--formats", "html")
    assert built.returncode == 0, built.stdout + built.stderr
    assert (course / "_build" / ("l" * 230 + ".html")).is_file()
    assert "a name with a line break; skipped" in built.stdout + built.stderr
