"""What course material nobody here wrote runs into: kernels it names, odd but
valid notebooks, linked data folders, entities in titles, display errors,
allowed errors, unknown tags, one lecture at a time, the replaced tool's files."""

import json
import os

import nbformat
import pytest
from click.testing import CliRunner

from nbbuild import build, load_settings
from nbbuild.cli import main
from nbbuild.model import Status

from ..conftest import run_nbbuild, write_course, write_notebook

pytestmark = pytest.mark.integration
PY2 = {"name": "python2", "display_name": "Python 2", "language": "python"}


def test_kernel_aliases_and_kernel_settings_choose_the_kernel(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "old.ipynb", "import sys; print(sys.version_info[0])", kernelspec=PY2)
    write_notebook(course / "legacy/x.ipynb", "print('legacy')",
                   kernelspec={"name": "py39-course", "display_name": "x", "language": "python"})
    write_notebook(course / "own.ipynb", "print('own')", kernelspec=PY2,
                   nbbuild={"kernel": "python3"})
    unset = build(load_settings(course, workers=2))
    errors = {r.source.rel.as_posix(): r for r in unset.results}
    assert "unknown kernel 'python2'" in str(errors["old.ipynb"].error)
    assert errors["own.ipynb"].ok  # its own metadata chose
    (course / "nbbuild.toml").write_text(
        '[kernel_aliases]\npython2 = "python3"\n[kernel]\n"legacy/**" = "python3"\n')
    result = build(load_settings(course, workers=2))
    assert result.ok, [str(r.error) for r in result.results]
    nb = nbformat.read(course / "_build/old.ipynb", as_version=4)
    assert nb.metadata.kernelspec.name == "python3" and nb.cells[0].outputs[0].text == "3\n"
    assert nb.metadata.kernelspec.display_name != "Python 2"
    plan = CliRunner().invoke(main, ["plan", str(course), "--explain"]).output
    assert ("old.ipynb  (kernel 'python3' (kernel_aliases.python2; the notebook declares "
            "'python2'))") in plan
    assert "kernel 'python3' (setting kernel.'legacy/**'; the notebook declares 'py39-course')" \
        in plan
    assert "kernel 'python3' (its metadata nbbuild.kernel" in plan
    (course / "nbbuild.toml").write_text('kernel = "no-such-kernel"\n')
    result = build(load_settings(course, workers=2))
    assert all("unknown kernel 'no-such-kernel'" in str(r.error) for r in result.results
               if r.source.rel.name != "own.ipynb")


def test_odd_but_valid_notebooks_are_built(tmp_path, private_tmp):
    course = tmp_path / "c"
    course.mkdir()
    cell = {"cell_type": "code", "id": "a1", "metadata": {}, "source": "print('four four')",
            "outputs": [], "execution_count": None}
    spec = {"kernelspec": {"name": "python3", "display_name": "P", "language": "python"}}
    (course / "v44.ipynb").write_text(json.dumps(
        {"cells": [cell], "metadata": spec, "nbformat": 4, "nbformat_minor": 4}))
    (course / "bare.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "code", "source": "print('bare')"},
                   {"cell_type": "markdown", "source": "text"}],
         "metadata": {}, "nbformat": 4, "nbformat_minor": 2}))
    (course / "Untitled.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": spec, "nbformat": 4, "nbformat_minor": 5}))
    result = build(load_settings(course, workers=2))
    assert result.ok, [str(r.error) for r in result.results]
    for stem in ("v44", "bare", "Untitled"):
        for suffix in (".html", ".slides.html", ".ipynb"):
            assert (course / "_build" / f"{stem}{suffix}").is_file()
    assert "four four" in (course / "_build/v44.html").read_text()
    assert "Untitled" in (course / "_build/Untitled.slides.html").read_text()


def test_linked_data_folders_are_copied_and_a_loop_is_said_once(tmp_path, private_tmp):
    data = tmp_path / "shared-data"
    (data / "sub").mkdir(parents=True)
    (data / "sub/values.csv").write_text("a,b\n1,2\n")
    (data / "elsewhere.ipynb").write_text("not this course's")
    course = tmp_path / "c"
    write_notebook(course / "lec/reads.ipynb", "print(open('data/sub/values.csv').read())")
    os.symlink(data, course / "lec/data")
    os.symlink("..", course / "lec/loop")
    proc = run_nbbuild(str(course))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("lec/loop: a link to a folder that holds it (a loop)") == 1
    out = course / "_build/lec"
    assert (out / "data/sub/values.csv").read_text() == "a,b\n1,2\n"
    assert (out / "data/elsewhere.ipynb").read_text() == "not this course's"  # copied, not built
    assert not (out / "data/elsewhere.html").exists()
    assert "a,b" in (out / "reads.html").read_text()
    os.symlink(tmp_path, course / "up")  # a link to a folder that holds the course
    proc = run_nbbuild(str(course))
    assert proc.returncode == 0 and "up: a link to" in proc.stdout and "not followed" in proc.stdout


def test_entities_in_headings_are_decoded_in_titles(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "# Data&nbsp;&amp; <em>models</em>", "1")
    assert build(load_settings(course, workers=1)).ok
    page = (course / "_build/a.html").read_text()
    assert "<title>Data &amp; models" in page and "&amp;nbsp;" not in page
    assert "Data &amp; models" in (course / "_build/index.html").read_text()


def test_an_error_while_displaying_a_result_is_named_with_its_own_cell(tmp_path, private_tmp):
    course = tmp_path / "c"
    course.mkdir()
    (course / "show.py").write_text(
        "# %%\nclass Bad:\n    def __repr__(self):\n        raise ValueError('repr broke')\n\n"
        "# %%\nx = 1\ny = 2\nBad()\n")
    [result] = build(load_settings(course, workers=1)).results
    assert result.status is Status.FAILED
    # the exception raised by __repr__, in the cell that showed the result; no line
    # of that cell is claimed (the code that raised is in cell 1)
    assert str(result.error) == "show.py: cell 2 raised ValueError: repr broke"


def test_allowed_errors_are_counted_and_listed(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "1 / 0", "print('on')", "[][1]")
    write_notebook(course / "b.ipynb", "print('fine')")
    (course / "nbbuild.toml").write_text('allow_errors = ["**"]\n')
    proc = run_nbbuild(str(course), "--report", str(tmp_path / "r.json"))
    assert proc.returncode == 0
    assert "2 built; 2 cells raised, allowed: a.ipynb (cells 1, 3)" in proc.stdout
    assert "built a.ipynb" in proc.stdout and "2 cells raised (allowed): 1, 3" in proc.stdout
    rows = {n["source"]: n for n in json.loads((tmp_path / "r.json").read_text())["notebooks"]}
    assert rows["a.ipynb"]["raised_cells"] == [1, 3] and rows["b.ipynb"]["raised_cells"] == []


def test_plan_mentions_no_unknown_tags_in_a_course_without_editions(tmp_path, private_tmp):
    course = tmp_path / "c"
    course.mkdir()
    for n in range(30):
        (course / f"n{n}.py").write_text(f'# %% tags=["exercise", "x{n}"]\nprint({n})\n')
    result = CliRunner().invoke(main, ["plan", str(course)])
    assert "unknown tag" not in result.stderr and result.exit_code == 0


def test_one_lecture_or_folder_is_built_from_the_command_line(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "01/a.ipynb", "# A", "print('a1')")
    write_notebook(course / "02/b.ipynb", "# B", "print('b1')")
    write_notebook(course / "02/c.ipynb", "# C", "print('c1')")
    write_notebook(course / "03/new.ipynb", "# New", "print('new')")
    assert build(load_settings(course, workers=2, exclude=["03"])).ok
    write_notebook(course / "01/a.ipynb", "# A", "print('a2')")
    write_notebook(course / "02/b.ipynb", "# B", "print('b2')")
    proc = run_nbbuild("build", str(course), str(course / "01/a.ipynb"), "-j", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "built 01/a.ipynb" in proc.stdout and "02/b.ipynb" not in proc.stdout
    assert "a2" in (course / "_build/01/a.html").read_text()
    assert "b1" in (course / "_build/02/b.html").read_text()  # not rebuilt
    home = (course / "_build/index.html").read_text()
    assert all(f"{p}.html" in home for p in ("01/a", "02/b", "02/c"))
    assert "03/new" not in home  # never built: not offered
    proc = run_nbbuild("build", str(course), str(course / "02"), "03/new.ipynb")  # in the course
    assert proc.returncode == 0
    assert "built 02/b.ipynb" in proc.stdout and "built 03/new.ipynb" in proc.stdout
    assert "02/c.ipynb" not in proc.stdout.split("where the time went")[0]  # up to date
    home = (course / "_build/index.html").read_text()
    assert all(f"{p}.html" in home for p in ("01/a", "02/b", "02/c", "03/new"))
    plan = CliRunner().invoke(main, ["plan", str(course)]).output
    assert all(line.startswith("up to date") for line in plan.splitlines())
    proc = run_nbbuild("build", str(course), str(tmp_path))
    assert proc.returncode == 2 and "not in the course" in proc.stderr


def test_the_replaced_tools_jinja_lines_and_tags(tmp_path, private_tmp):
    course = write_course(tmp_path / "c", 'editions = ["completed", "code-along"]\n', {
        "lecture.py": "# j2 from 'macros.j2' import header\n# {{ header('Intro') }}\n\n"
                      '# %% [markdown]\n# # Lecture\n\n'
                      '# %% tags=["code-along"]\nstarter = "TYPE HERE"\n\n'
                      '# %% tags=["solution"]\nprint("the solution code")\n\n'
                      '# %% [markdown] tags=["solution"]\n# The answer is 42.\n'})
    proc = run_nbbuild(str(course))
    assert proc.returncode == 0, proc.stdout
    warnings = [line for line in proc.stdout.splitlines() if "'# j2'" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: lecture.py, line 1: ")
    assert "replace it with the markdown or code it produced" in warnings[0]
    completed = (course / "_build/completed/html/lecture.html").read_text()
    along = (course / "_build/code-along/html/lecture.html").read_text()
    assert "the solution code" in completed and "The answer is 42." in completed
    assert "TYPE HERE" not in completed  # starter code: code-along only
    assert "TYPE HERE" in along and "the solution code" not in along
    assert "The answer is 42." not in along and "Answer:" in along
    plan = CliRunner().invoke(main, ["plan", str(course)])
    assert "unknown tag" not in plan.stderr and "'# j2'" in plan.stderr
