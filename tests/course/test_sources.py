from pathlib import PurePosixPath

import pytest

from nbbuild.course.sources import load
from nbbuild.errors import SourceError
from nbbuild.model import Source, SourceKind

from ..conftest import FIXTURES, write_notebook


def _source(path, root):
    kind = SourceKind.PERCENT if path.suffix == ".py" else SourceKind.IPYNB
    from pathlib import PurePosixPath

    return Source(path=path, rel=PurePosixPath(path.relative_to(root).as_posix()), kind=kind)


def test_percent_file_keeps_the_line_of_each_cell_marker(tmp_path):
    path = tmp_path / "l.py"
    path.write_text("# %% [markdown]\n# # Hello\n\n# %%\nx = 1\n\n# %%\ny = 2\n")
    loaded = load(_source(path, tmp_path))
    assert [c.cell_type for c in loaded.nb.cells] == ["markdown", "code", "code"]
    assert loaded.cell_lines == [1, 4, 7]
    assert loaded.kernel_name == "python3"
    assert loaded.title == "Hello"


def test_ipynb_kernel_and_title(tmp_path):
    path = write_notebook(tmp_path / "n.ipynb", "# Big title", "1")
    loaded = load(_source(path, tmp_path))
    assert loaded.kernel_name == "python3" and loaded.title == "Big title"
    assert loaded.cell_lines is None


def test_title_falls_back_to_file_name(tmp_path):
    path = write_notebook(tmp_path / "no-heading.ipynb", "1")
    assert load(_source(path, tmp_path)).title == "no-heading"


@pytest.mark.parametrize(
    "name, message",
    [
        ("bad-json.ipynb", "not valid JSON (line 2"),
        ("empty.ipynb", "file is empty"),
        ("latin1.py", "not UTF-8 text"),
    ],
)
def test_broken_sources_name_the_file_and_reason(name, message):
    root = FIXTURES / "broken"
    with pytest.raises(SourceError) as info:
        load(_source(root / name, root))
    assert str(info.value).startswith(f"{name}: ")
    assert message in str(info.value)


def test_json_that_is_not_a_notebook(tmp_path):
    path = tmp_path / "list.ipynb"
    path.write_text("[1, 2, 3]")
    with pytest.raises(SourceError, match="not a notebook"):
        load(_source(path, tmp_path))


def test_invalid_nbformat(tmp_path):
    path = tmp_path / "v.ipynb"
    path.write_text('{"cells": [{"cell_type": "bogus"}], "metadata": {}, "nbformat": 4, '
                    '"nbformat_minor": 5}')
    with pytest.raises(SourceError, match="invalid notebook"):
        load(_source(path, tmp_path))


def test_binary_file_named_ipynb(tmp_path):
    path = tmp_path / "b.ipynb"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(SourceError, match="b.ipynb: not UTF-8"):
        load(_source(path, tmp_path))


def test_file_deleted_after_discovery(tmp_path):
    path = write_notebook(tmp_path / "gone.ipynb", "1")
    source = _source(path, tmp_path)
    path.unlink()
    with pytest.raises(SourceError, match="disappeared"):
        load(source)


def test_errors_pickle_with_their_fields():
    import pickle

    from nbbuild.errors import CellError

    err = CellError("a.py", "cell 2 raised X", cell=2, line=7, ename="X", traceback="tb")
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.path, copy.cell, copy.line, copy.ename, str(copy)) == (
        "a.py", 2, 7, "X", str(err))


def test_titles_lose_inline_markup():
    from nbbuild.course.sources import plain_text

    assert plain_text("Welcome to *Programming with `Python`*") == "Welcome to Programming with Python"
    assert plain_text("See [the docs](http://x) and __this__") == "See the docs and this"


def test_a_percent_script_without_a_header_names_the_kernel_it_runs_on(tmp_path):
    path = tmp_path / "lecture.py"
    path.write_text("# %%\nprint('no header')\n")
    loaded = load(Source(path=path, rel=PurePosixPath("lecture.py"), kind=SourceKind.PERCENT))
    assert loaded.nb.metadata["kernelspec"] == {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
