"""The build cache: each staleness reason, with the executions it costs and the
reason `nbbuild plan --explain` gives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from click.testing import CliRunner

from nbbuild import build, load_settings
from nbbuild.cli import main
from nbbuild.store.database import Store

from ..conftest import kernel_processes, write_notebook

pytestmark = pytest.mark.integration


class Course:
    """A small course whose notebooks log every execution outside the course."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root, self.log = root, log
        (root / "data").mkdir(parents=True)
        (root / "data" / "sales.csv").write_text("region,units\nnorth,3\nsouth,4\n")
        (root / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
        self.notebook("reads_data", "print(open('data/sales.csv').read().count('\\n'))")
        self.notebook("imports_helper", "import helpers\nprint(helpers.double(21))")
        self.notebook("plain", "print('plain')")

    def notebook(self, name: str, code: str, **metadata) -> Path:
        logger = f"open({str(self.log)!r}, 'a').write({name!r} + '\\n')"
        return write_notebook(self.root / f"{name}.ipynb", f"# {name}", logger, code, **metadata)

    def build(self, **options):
        before = self.executions()
        result = build(load_settings(self.root, workers=2, **options.pop("settings", {})),
                       **options)
        ran = self.executions()[len(before):]
        return result, sorted(ran)

    def executions(self) -> list[str]:
        return self.log.read_text().split() if self.log.exists() else []

    def plan(self, *args: str) -> dict[str, str]:
        out = CliRunner().invoke(main, ["plan", str(self.root), "--explain", *args]).output
        rows = {}
        for line in out.splitlines():
            action, rest = line[:11].strip(), line[11:].strip()
            name, _, why = rest.partition("  ")
            rows[name] = f"{action} {why}".strip()
        return rows

    def edit(self, name: str, index: int, source: str) -> None:
        path = self.root / f"{name}.ipynb"
        nb = nbformat.read(path, as_version=4)
        nb.cells[index].source = source
        nbformat.write(nb, path)


@pytest.fixture
def course(tmp_path, private_tmp):
    c = Course(tmp_path / "course", tmp_path / "executions.log")
    assert c.plan()["plain.ipynb"] == "re-execute (never built)"
    result, ran = c.build()
    assert result.ok and ran == ["imports_helper", "plain", "reads_data"]
    assert set(c.plan().values()) == {"up to date"}
    return c


def test_noop_build_executes_nothing(course):
    result, ran = course.build()
    assert ran == [] and result.executed == 0
    assert {r.action for r in result.results} == {"up to date"}


def test_markdown_edit_rerenders_with_zero_executions(course):
    course.edit("plain", 0, "# plain, now with a better title")
    assert course.plan()["plain.ipynb"] == "re-render (notebook changed (markdown or metadata))"
    result, ran = course.build()
    assert ran == []
    page = (course.root / "_build" / "plain.html").read_text()
    assert "now with a better title" in page and "plain\n" in page  # cached output kept


def test_deleted_outputs_rerender_with_zero_executions(course):
    import shutil

    shutil.rmtree(course.root / "_build")
    assert course.plan()["reads_data.ipynb"] == "re-render (outputs missing)"
    result, ran = course.build()
    assert ran == [] and result.ok
    executed = nbformat.read(course.root / "_build" / "imports_helper.ipynb", as_version=4)
    assert executed.cells[2].outputs[0].text == "42\n"


def test_code_edit_reexecutes_that_notebook_only(course):
    course.edit("plain", 2, "print('changed')")
    assert course.plan()["plain.ipynb"] == "re-execute (code changed)"
    _, ran = course.build()
    assert ran == ["plain"]


def test_whitespace_only_code_edit_changes_nothing(course):
    course.edit("plain", 2, "print('plain')   \n\n")
    assert course.plan()["plain.ipynb"].startswith("re-render")  # the file changed, the code not
    _, ran = course.build()
    assert ran == []


def test_data_file_edit_reexecutes_exactly_its_readers(course):
    (course.root / "data" / "sales.csv").write_text("region,units\nnorth,3\nsouth,4\neast,5\n")
    plan = course.plan()
    assert plan["reads_data.ipynb"] == "re-execute (dependency data/sales.csv changed)"
    assert plan["imports_helper.ipynb"] == plan["plain.ipynb"] == "up to date"
    _, ran = course.build()
    assert ran == ["reads_data"]


def test_touched_but_unchanged_dependency_is_not_stale(course):
    path = course.root / "data" / "sales.csv"
    os.utime(path, (time.time() + 100, time.time() + 100))
    _, ran = course.build()
    assert ran == []


def test_helper_module_edit_reexecutes_exactly_its_importers(course):
    (course.root / "helpers.py").write_text("def double(x):\n    return x + x\n")
    assert course.plan()["imports_helper.ipynb"] == "re-execute (dependency helpers.py changed)"
    _, ran = course.build()
    assert ran == ["imports_helper"]


def test_format_added_rerenders_without_executing(tmp_path, private_tmp):
    c = Course(tmp_path / "course", tmp_path / "log")
    c.build(settings={"formats": "html"})
    assert c.plan()["plain.ipynb"] == "re-render (format added: notebook, slides)"
    result, ran = c.build()
    assert ran == [] and (c.root / "_build" / "plain.slides.html").is_file()


def test_allowed_errors_change_reexecutes(course):
    (course.root / "nbbuild.toml").write_text('allow_errors = ["plain.ipynb"]\n')
    assert course.plan()["plain.ipynb"] == "re-execute (options changed (allowed errors))"
    _, ran = course.build()
    assert ran == ["plain"]


def test_kernel_change_reexecutes(course, tmp_path, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    kernels = tmp_path / "jupyter" / "kernels" / "python3-copy"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps(
        {"argv": spec.argv, "display_name": "copy", "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    path = course.root / "plain.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata.kernelspec.name = "python3-copy"
    nbformat.write(nb, path)
    assert course.plan()["plain.ipynb"] == "re-execute (kernel changed)"
    _, ran = course.build()
    assert ran == ["plain"]


def test_nbbuild_upgrade_rerenders(course, monkeypatch):
    import nbbuild.store.keys

    monkeypatch.setattr(nbbuild.store.keys, "__version__", "99.0")
    assert course.plan()["plain.ipynb"] == "re-render (nbbuild upgraded)"
    _, ran = course.build()
    assert ran == []


def test_force_reexecutes_everything(course):
    assert course.plan("--force")["plain.ipynb"] == "re-execute (forced)"
    _, ran = course.build(force=True)
    assert ran == ["imports_helper", "plain", "reads_data"]


def test_a_failure_is_kept_apart_and_run_again_when_a_file_it_tried_changes(
        tmp_path, private_tmp):
    """An unchanged failure is not executed again, and never taken for a success:
    the store has no execution under its key. Creating the file it needed runs it."""
    c = Course(tmp_path / "course", tmp_path / "log")
    c.notebook("needs_file", "print(open('later.txt').read())")
    result, ran = c.build()
    assert "needs_file" in ran and not result.ok
    assert "FileNotFoundError" in (c.root / "_build" / "needs_file.html").read_text()
    assert c.plan()["needs_file.ipynb"].startswith("failed (failed, unchanged since ")
    assert c.plan("--retry-failed")["needs_file.ipynb"] == (
        "re-execute (failed last time; retried (--retry-failed))")
    result, ran = c.build()
    assert ran == [] and not result.ok  # unchanged: reported, not run again
    [failed] = [r for r in result.results if not r.ok]
    assert failed.action == "up to date" and "FileNotFoundError" in str(failed.error)
    with Store(c.root / ".nbbuild") as store:
        record = store.notebook("needs_file.ipynb")
        assert record.status == "failed" and store.execution(record.exec_key) is None
    (c.root / "later.txt").write_text("here now")
    result, ran = c.build()
    assert ran == ["needs_file"] and result.ok


def test_no_cache_neither_reads_nor_writes(tmp_path, private_tmp):
    c = Course(tmp_path / "course", tmp_path / "log")
    result, ran = c.build(use_cache=False)
    assert len(ran) == 3 and not (c.root / ".nbbuild" / "nbbuild.db").exists()
    c.build()
    _, ran = c.build(use_cache=False)
    assert len(ran) == 3  # the cache was there, and ignored


def test_sigkill_halfway_then_rebuild_runs_only_the_unfinished(tmp_path, private_tmp):
    c = Course(tmp_path / "course", tmp_path / "log")
    for i in range(2):
        c.notebook(f"slow{i}", "import time\ntime.sleep(30)")
    cmd = [sys.executable, "-m", "nbbuild", "build", str(c.root), "-j", "2", "-q"]
    proc = subprocess.Popen(cmd, env={**os.environ, "TMPDIR": str(private_tmp)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    done = lambda: all((c.root / "_build" / f"{n}.html").exists()  # noqa: E731
                       for n in ("plain", "reads_data", "imports_helper"))
    while time.monotonic() < deadline and not (done() and "slow0" in c.executions()):
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Its kernels end by themselves within seconds (test_forking); not waited for here.
    for orphan in kernel_processes(private_tmp):
        orphan.kill()
    for n in ("slow0", "slow1"):  # make them quick for the rebuild
        c.edit(n, 2, "print('quick now')")
    before = c.executions()
    result = build(load_settings(c.root, workers=2))
    ran = sorted(c.executions()[len(before):])
    assert result.ok
    assert ran == ["slow0", "slow1"]  # the three finished notebooks were not run again
    for name in ("plain", "reads_data", "imports_helper", "slow0", "slow1"):
        nbformat.read(c.root / "_build" / f"{name}.ipynb", as_version=4)


def test_declared_dependencies_cover_what_tracking_cannot_see(tmp_path, private_tmp):
    c = Course(tmp_path / "course", tmp_path / "log")
    (c.root / "raw.bin").write_bytes(b"\x00\x01")
    c.notebook("via_subprocess",
               "import subprocess\nprint(subprocess.run(['wc', '-c', 'raw.bin'],"
               " capture_output=True, text=True).stdout)")
    c.build()
    (c.root / "raw.bin").write_bytes(b"\x00\x01\x02")
    assert c.plan()["via_subprocess.ipynb"] == "up to date"  # the hook cannot see wc
    (c.root / "nbbuild.toml").write_text('[depends]\n"via_*" = ["*.bin"]\n')
    assert c.plan()["via_subprocess.ipynb"] == "re-execute (declared dependencies changed)"
    _, ran = c.build()
    assert ran == ["via_subprocess"]
    (c.root / "raw.bin").write_bytes(b"\x00")
    assert c.plan()["via_subprocess.ipynb"] == "re-execute (dependency raw.bin changed)"
    _, ran = c.build()
    assert ran == ["via_subprocess"]


def test_declared_environment_variables_are_part_of_the_key(tmp_path, private_tmp, monkeypatch):
    c = Course(tmp_path / "course", tmp_path / "log")
    (c.root / "nbbuild.toml").write_text('env = ["COURSE_YEAR"]\n')
    monkeypatch.setenv("COURSE_YEAR", "2026")
    c.build()
    assert set(c.plan().values()) == {"up to date"}
    monkeypatch.setenv("UNDECLARED", "changes nothing")
    assert set(c.plan().values()) == {"up to date"}
    monkeypatch.setenv("COURSE_YEAR", "2027")
    assert c.plan()["plain.ipynb"] == "re-execute (environment changed: COURSE_YEAR)"
    _, ran = c.build()
    assert ran == ["imports_helper", "plain", "reads_data"]


def test_builds_are_recorded_and_a_slow_one_is_named(tmp_path, private_tmp, monkeypatch):
    """Five comparable builds, then one where a notebook got slow: the warning names it."""
    import io

    from nbbuild.report.progress import PlainReporter

    c = Course(tmp_path / "course", tmp_path / "log")
    delay = tmp_path / "delay.txt"
    delay.write_text("0")
    c.notebook("varies", f"import time\ntime.sleep(float(open({str(delay)!r}).read()))")
    for _ in range(5):
        result, _ = c.build(force=True)
        assert result.ok
    delay.write_text("2.5")
    stream = io.StringIO()
    build(load_settings(c.root, workers=2), PlainReporter(stream), force=True)
    warning = next(line for line in stream.getvalue().splitlines() if "slower than" in line)
    assert "slower than the median of the last 5 comparable builds" in warning
    # Named slowest first; on a loaded machine small notebooks may be named after it.
    assert warning.split("slower: ", 1)[1].startswith("varies.ipynb (")
    table = CliRunner().invoke(main, ["report", str(c.root), "--last", "3"]).output.splitlines()
    assert len(table) == 4 and "executed" in table[0]
    assert "%" in table[1]  # the newest build compared with the earlier ones


def test_a_noop_build_is_not_compared_with_full_ones(tmp_path, private_tmp):
    import io

    from nbbuild.report.progress import PlainReporter

    c = Course(tmp_path / "course", tmp_path / "log")
    for _ in range(6):
        c.build(force=True)
    stream = io.StringIO()
    build(load_settings(c.root, workers=2), PlainReporter(stream))  # no-op: different kind
    assert "slower than" not in stream.getvalue()


def test_an_edit_saved_during_the_build_is_not_recorded_as_built(course):
    """The record claims the content that was read, not what the file holds once the
    build is done: here the notebook edits its own source while it runs."""
    path = course.root / "self_editing.ipynb"
    course.notebook("self_editing", "import json, pathlib\n"
                    "p = pathlib.Path('self_editing.ipynb')\n"
                    "nb = json.loads(p.read_text())\n"
                    "nb['cells'][0]['source'] = '# edited while building'\n"
                    "p.write_text(json.dumps(nb))")
    result, ran = course.build()
    assert result.ok and ran == ["self_editing"]
    assert "edited while building" in path.read_text()
    assert course.plan()["self_editing.ipynb"] != "up to date"
