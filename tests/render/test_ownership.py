"""The output folder is nbbuild's alone: no author's file is ever overwritten or
deleted, whatever --out is given (checksums of every file before and after)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from nbbuild.errors import OutputError
from nbbuild.render.output_folder import MANIFEST, OutputFolder
from nbbuild.store.lock import CourseLocked

from ..conftest import run_nbbuild

pytestmark = pytest.mark.integration


def _checksums(root: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Every file under ``root`` (nbbuild's own store and outputs left out)."""
    sums = {}
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in (".nbbuild", *skip)]
        for name in files:
            path = Path(dirpath) / name
            sums[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


@pytest.fixture
def place(tmp_path: Path) -> Path:
    """A parent folder with a course C (a lecture at the top, one in part1), an
    unrelated index.html beside it, and a folder of the user's."""
    course = tmp_path / "C"
    (course / "part1").mkdir(parents=True)
    (course / "a.py").write_text('# %%\nprint("a")\n')
    (course / "part1" / "b.py").write_text('# %%\nprint("b")\n')
    (tmp_path / "index.html").write_text("the parent's own page")
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "b.html").write_text("the user's b.html")
    (tmp_path / "user" / "notes.txt").write_text("years of work")
    return tmp_path


@pytest.mark.parametrize("out", ["C", ".", "user", "C/part1"])
def test_an_output_folder_that_would_touch_the_authors_files_is_refused(place, out):
    before = _checksums(place)
    built = run_nbbuild("build", str(place / "C"), "--out", str(place / out), "-j", "1")
    assert built.returncode == 2, built.stderr
    assert str(place / out) in built.stderr
    if out == "C/part1":  # even when told to overwrite: sources live there
        forced = run_nbbuild("build", str(place / "C"), "--out", str(place / out),
                             "--out-overwrite")
        assert forced.returncode == 2 and "inside the course" in forced.stderr
    cleaned = run_nbbuild("clean", str(place / "C"), "--out", str(place / out))
    assert cleaned.returncode in (0, 2)
    assert _checksums(place) == before


def test_clean_removes_exactly_what_nbbuild_wrote_in_a_folder_it_was_allowed_into(place):
    user = place / "user"
    (place / "C" / "b.py").write_text('# %%\nraise ValueError("b fails")\n')
    # With a banner page, b.html would be an output like any other (replaced, as
    # --out-overwrite says); a failure that writes nothing must not delete it.
    (place / "C" / "nbbuild.toml").write_text('failed_pages = "omit"\n')
    before = _checksums(user)
    built = run_nbbuild("build", str(place / "C"), "--out", str(user), "--out-overwrite")
    assert built.returncode == 1, built.stderr  # b failed; a built
    assert (user / "a.html").is_file()
    # The failing notebook's output name is the user's file: never deleted.
    assert (user / "b.html").read_text() == "the user's b.html"
    cleaned = run_nbbuild("clean", str(place / "C"), "--out", str(user))
    assert cleaned.returncode == 0, cleaned.stderr
    assert "left" in cleaned.stdout and "notes.txt" in cleaned.stdout
    assert _checksums(user) == before  # exactly the user's files are left


def test_two_courses_never_share_an_output_folder(place, tmp_path):
    other = tmp_path / "D"
    other.mkdir()
    (other / "x.py").write_text('# %%\nprint("x")\n')
    out = tmp_path / "site"
    first = run_nbbuild("build", str(place / "C"), "--out", str(out), "-j", "1")
    assert first.returncode == 0, first.stderr
    before = _checksums(out)
    second = run_nbbuild("build", str(other), "--out", str(out), "-j", "1")
    assert second.returncode == 2 and "another course" in second.stderr
    cleaned = run_nbbuild("clean", str(other), "--out", str(out))
    assert cleaned.returncode == 2 and "another course" in cleaned.stderr
    assert _checksums(out) == before
    # The owner's clean leaves nothing behind, the folder included.
    assert run_nbbuild("clean", str(place / "C"), "--out", str(out)).returncode == 0
    assert not out.exists()


def test_the_output_folder_is_locked_while_a_build_writes_it(tmp_path):
    course, out = tmp_path / "C", tmp_path / "out"
    course.mkdir()
    with OutputFolder.claim(out, course):
        with pytest.raises(CourseLocked, match="another build is writing"):
            OutputFolder.claim(out, course, wait=False)
    OutputFolder.claim(out, course, wait=False).release()  # free again


def test_the_list_of_written_files_is_kept_and_a_folder_of_an_older_nbbuild_adopted(tmp_path):
    course, out = tmp_path / "C", tmp_path / "out"
    course.mkdir()
    out.mkdir()
    (out / ".nbbuild-output").write_text("This folder is written by nbbuild.\n")  # older nbbuild
    (out / "old.html").write_text("x")
    with OutputFolder.claim(out, course) as folder:
        assert folder.owns(Path("old.html"))
        folder.wrote([out / "new.html"])
    listed = (out / MANIFEST).read_text()
    assert "old.html" in listed and "new.html" in listed
    with pytest.raises(OutputError, match="is the course itself"):
        OutputFolder.claim(course, course)


def test_a_store_deleted_during_the_build_is_reported_not_silently_lost(tmp_path):
    import shutil

    from nbbuild.store.database import Store, StoreError

    store = Store(tmp_path / ".nbbuild")
    shutil.rmtree(tmp_path / ".nbbuild")
    with pytest.raises(StoreError, match="deleted or replaced during the build"):
        store.record_runs({"a.py": (1.0, "built")})
    store.close()


def test_a_store_with_the_right_version_and_wrong_tables_is_a_message(tmp_path):
    import sqlite3

    course = tmp_path / "C"
    course.mkdir()
    (course / "a.py").write_text('# %%\nprint("a")\n')
    assert run_nbbuild("build", str(course), "-j", "1").returncode == 0
    db = sqlite3.connect(course / ".nbbuild" / "nbbuild.db")
    db.executescript("DROP TABLE notebooks; CREATE TABLE notebooks (x);")
    db.close()
    built = run_nbbuild("build", str(course), "-j", "1")
    assert built.returncode == 0
    assert "damaged: table notebooks lacks" in built.stdout + built.stderr
    for command in ("plan", "report"):
        shown = run_nbbuild(command, str(course))
        assert shown.returncode == 2 and "damaged" in shown.stderr
        assert "Traceback" not in shown.stderr
