from pathlib import PurePosixPath as P

import pytest

from nbbuild.config import load_settings
from nbbuild.course.discover import discover, is_percent_notebook
from nbbuild.errors import ConflictingOutputsError
from nbbuild.model import SourceKind
from nbbuild.render.layout import MARKER

from ..conftest import write_notebook


def _course(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def _rels(course):
    return [str(s.rel) for s in course.sources]


def test_percent_markers_decide_what_a_py_file_is(tmp_path):
    _course(tmp_path, {
        "lecture.py": "# %% [markdown]\n# # Title\n\n# %%\nx = 1\n",
        "compact.py": "#%%\nprint(1)\n",
        "helpers.py": "def f():\n    return '# %% not at line start'\n",
    })
    assert is_percent_notebook(tmp_path / "lecture.py")
    assert is_percent_notebook(tmp_path / "compact.py")
    assert not is_percent_notebook(tmp_path / "helpers.py")
    found = discover(load_settings(tmp_path))
    assert _rels(found) == ["compact.py", "lecture.py"]
    assert all(s.kind is SourceKind.PERCENT for s in found.sources)
    assert P("helpers.py") in found.assets


def test_walk_is_sorted_and_skips_hidden_checkpoints_caches_and_outputs(tmp_path):
    for rel in ["10-end.ipynb", "2-mid.ipynb", "a/1.ipynb", ".hidden/x.ipynb",
                "a/.ipynb_checkpoints/1-checkpoint.ipynb", "a/__pycache__/x.ipynb",
                "_build/2-mid.ipynb", "old-site/x.ipynb"]:
        write_notebook(tmp_path / rel, "1")
    (tmp_path / "old-site" / MARKER).write_text("")
    found = discover(load_settings(tmp_path))
    assert _rels(found) == ["2-mid.ipynb", "10-end.ipynb", "a/1.ipynb"]


def test_custom_output_folder_inside_the_course_is_skipped(tmp_path):
    write_notebook(tmp_path / "a.ipynb", "1")
    write_notebook(tmp_path / "site" / "a.ipynb", "1")
    found = discover(load_settings(tmp_path, out=str(tmp_path / "site")))
    assert _rels(found) == ["a.ipynb"]


def test_include_and_exclude_globs(tmp_path):
    for rel in ["lectures/1.ipynb", "lectures/drafts/2.ipynb", "extra/3.ipynb"]:
        write_notebook(tmp_path / rel, "1")
    (tmp_path / "lectures" / "drafts" / "data.csv").write_text("x\n")
    (tmp_path / "nbbuild.toml").write_text('include = ["lectures/**"]\nexclude = ["drafts"]\n')
    found = discover(load_settings(tmp_path))
    assert _rels(found) == ["lectures/1.ipynb"]
    assert P("lectures/drafts/data.csv") not in found.assets  # exclude applies to files too
    assert P("nbbuild.toml") not in found.assets


def test_same_stem_in_two_formats_is_a_clear_error(tmp_path):
    write_notebook(tmp_path / "part" / "intro.ipynb", "1")
    (tmp_path / "part" / "intro.py").write_text("# %%\n1\n")
    with pytest.raises(ConflictingOutputsError) as info:
        discover(load_settings(tmp_path))
    message = str(info.value)
    assert "part/intro.ipynb and part/intro.py" in message
    assert "part/intro.html" in message


def test_a_root_index_notebook_would_overwrite_the_course_home(tmp_path):
    write_notebook(tmp_path / "index.ipynb", "1")
    with pytest.raises(ConflictingOutputsError, match="the course site and index.ipynb"):
        discover(load_settings(tmp_path))
    # Without pages or decks there is no home page, hence no conflict.
    assert _rels(discover(load_settings(tmp_path, formats="notebook"))) == ["index.ipynb"]


def test_demo_course_has_13_notebooks_in_3_folders(course):
    found = discover(load_settings(course))
    assert len(found.sources) == 13
    assert {s.rel.parts[0] for s in found.sources if len(s.rel.parts) > 1} == {
        "01-basics", "02-data", "03-performance"}
    assert P("img/logo.png") in found.assets and P("02-data/data/sales.csv") in found.assets


def test_a_script_output_next_to_a_course_file_of_its_name_is_a_clear_error(tmp_path):
    write_notebook(tmp_path / "helpers.ipynb", "1")
    (tmp_path / "helpers.py").write_text("def f():\n    return 1\n")  # a module, not a notebook
    with pytest.raises(ConflictingOutputsError, match="the course file helpers.py and helpers.ipynb"):
        discover(load_settings(tmp_path, formats="html,code"))
    assert _rels(discover(load_settings(tmp_path, formats="html"))) == ["helpers.ipynb"]


def test_every_layout_clash_is_found_before_anything_runs(tmp_path):
    write_notebook(tmp_path / "a.ipynb", "1")
    (tmp_path / "nbbuild.toml").write_text(
        'editions = ["completed", "speaker"]\nlayout = "{format}"\n')
    with pytest.raises(ConflictingOutputsError, match="a.ipynb would write two of its outputs"):
        discover(load_settings(tmp_path))


def test_a_course_with_languages_has_one_source_per_language(tmp_path):
    write_notebook(tmp_path / "a.ipynb", "1")
    (tmp_path / "nbbuild.toml").write_text('languages = ["en", "de"]\n')
    found = discover(load_settings(tmp_path))
    assert [s.key for s in found.sources] == ["a.ipynb [en]", "a.ipynb [de]"]
