"""After a build the output holds exactly what that build produces: outputs of
deleted or renamed lectures, copies of deleted course files and dropped formats go;
files the author put into the output folder stay."""

from __future__ import annotations

from nbbuild import build, load_settings
from nbbuild.model import Status

from ..conftest import write_notebook


def _files(out) -> set[str]:
    return {p.relative_to(out).as_posix() for p in out.rglob("*")
            if p.is_file() and not p.name.startswith(".nbbuild-") and "_static" not in p.parts}


def test_deleted_renamed_and_dropped_outputs_are_removed_and_the_authors_files_stay(
        tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "print('a')")
    write_notebook(course / "part" / "b.ipynb", "print('b')")
    (course / "part" / "data.csv").write_text("x\n1\n")
    (course / "old.py").write_text("# %%\nprint('old')\n")
    out = course / "_build"
    assert build(load_settings(course, workers=2)).ok
    (out / "CNAME").write_text("course.example.org")  # the author's, for the host
    (out / ".nojekyll").write_text("")
    (course / "part" / "b.ipynb").unlink()
    (course / "part" / "data.csv").unlink()
    (course / "old.py").rename(course / "new.py")
    result = build(load_settings(course, workers=2, formats="html,notebook"))
    assert [r.status for r in result.results] == [Status.BUILT, Status.BUILT]
    assert _files(out) == {"index.html", "a.html", "a.ipynb", "new.html", "new.ipynb",
                           "CNAME", ".nojekyll", "_site/outline.js", "_site/search.js"}
    assert "new.html" in (out / "_site/outline.js").read_text()  # the renamed lecture
    assert "old.html" not in (out / "_site/search.js").read_text()
    assert not (out / "part").exists()  # the folder it left empty went too
    assert (out / "CNAME").read_text() == "course.example.org"
