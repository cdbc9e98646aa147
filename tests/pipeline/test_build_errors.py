"""fixtures/broken: every bad notebook gets a clear status and message; the rest builds."""

import pytest

from nbbuild import build, load_settings
from nbbuild.model import Status
from nbbuild.report.progress import NullReporter

from ..conftest import kernel_processes, run_nbbuild

pytestmark = pytest.mark.integration

EXPECTED = {
    "allowed-to-raise.ipynb": (Status.BUILT, ""),
    "good.ipynb": (Status.BUILT, ""),
    "asks-input.ipynb": (Status.FAILED, "cell 2, line 1 raised StdinNotImplementedError"),
    "bad-json.ipynb": (Status.ERRORED, "not valid JSON (line 2"),
    "dies.ipynb": (Status.ERRORED, "kernel died while running cell 2"),
    "empty.ipynb": (Status.ERRORED, "file is empty"),
    "hangs.ipynb": (Status.FAILED, "cell 2 timed out after 2 s"),
    "latin1.py": (Status.ERRORED, "not UTF-8 text"),
    "raises-in-py.py": (Status.FAILED, "cell 3, line 10 of the file raised IndexError"),
    "raises.ipynb": (Status.FAILED, "cell 3, line 4 raised ZeroDivisionError: division by zero"),
    "unknown-kernel.ipynb": (Status.ERRORED, "unknown kernel 'no-such-kernel'; installed kernels: "),
}


def assert_as_expected(result) -> None:
    """Each notebook of fixtures/broken has the status and message in EXPECTED."""
    seen = {str(r.source.rel): r for r in result.results}
    assert set(seen) == set(EXPECTED)
    for name, (status, message) in EXPECTED.items():
        r = seen[name]
        assert r.status is status, (name, r.status, r.error)
        if message:
            assert str(r.error).startswith(f"{name}: ") and message in str(r.error), str(r.error)
    # The message names the installed kernels (others than python3 may be installed).
    installed = str(seen["unknown-kernel.ipynb"].error).rsplit("installed kernels: ", 1)[1]
    assert "python3" in installed.split(", ")


@pytest.mark.parametrize("fork", [True, False], ids=["forked", "spawned"])
def test_every_bad_notebook_is_reported_and_the_rest_builds(broken, private_tmp, fork):
    """Forked and spawned kernels fail alike: a crash, a timeout, input(), a raise."""
    result = build(load_settings(broken, workers=4, fork_kernels=fork))
    assert result.forked is fork
    assert_as_expected(result)
    out = broken / "_build"
    assert (out / "good.html").is_file() and (out / "allowed-to-raise.html").is_file()
    allowed = (out / "allowed-to-raise.html").read_text()
    assert "RuntimeError" in allowed and "after the error" in allowed  # traceback rendered
    for name, (status, message) in EXPECTED.items():
        stem = name.rsplit(".", 1)[0]
        if status is Status.ERRORED:  # nbbuild could not run it: no outputs
            assert not list(out.glob(f"{stem}.*")), f"outputs left for errored {name}"
        elif status is Status.FAILED:  # its own code failed: shown under the banner
            page = (out / f"{stem}.html").read_text()
            assert "This lecture failed to build." in page and message in page, name
    assert kernel_processes(private_tmp) == []


def test_cli_exits_1_with_a_summary_naming_each_failure(broken, private_tmp):
    proc = run_nbbuild(str(broken), "--workers", "4")
    assert proc.returncode == 1
    out = proc.stdout
    assert "11 notebooks: 2 built (2 executed, 0 re-rendered, 0 up to date), 4 failed, 5 errored" in out
    assert "FAILED raises.ipynb: cell 3, line 4 raised ZeroDivisionError" in out
    assert "----> 4 f(x)" in out  # the traceback, without colour codes
    assert "\x1b[" not in out
    assert "ERRORED unknown-kernel.ipynb" in out
    assert kernel_processes(private_tmp) == []


def test_unknown_kernel_is_reported_before_anything_runs(tmp_path, private_tmp):
    from ..conftest import write_notebook

    course = tmp_path / "c"
    log = tmp_path / "ran"
    write_notebook(course / "a.ipynb", f"open({str(log)!r}, 'w').write('ran')")
    write_notebook(course / "b.ipynb", "1", kernelspec={"name": "julia-9", "display_name": "J"})
    events = []

    class Recorder(NullReporter):
        def notebook_started(self, source):
            events.append(f"run {source.rel}")

        def notebook_finished(self, result):
            events.append(f"{result.status.value} {result.source.rel}")

    result = build(load_settings(course, workers=1), Recorder())
    assert events.index("errored b.ipynb") < events.index("run a.ipynb")
    assert "julia-9" in str(result.results[1].error) and "python3" in str(result.results[1].error)
    assert log.read_text() == "ran"


def test_conflicting_sources_exit_2_naming_both(tmp_path, private_tmp):
    from ..conftest import write_notebook

    course = tmp_path / "c"
    write_notebook(course / "intro.ipynb", "1")
    (course / "intro.py").write_text("# %%\n1\n")
    proc = run_nbbuild(str(course))
    assert proc.returncode == 2
    assert "intro.ipynb and intro.py would both write" in proc.stderr


def test_output_folder_that_cannot_be_created_exits_2(tmp_path, private_tmp):
    from ..conftest import write_notebook

    course = tmp_path / "c"
    write_notebook(course / "a.ipynb", "1")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_nbbuild(str(course), "--out", str(blocker / "site"))
    assert proc.returncode == 2
    assert "cannot create the output folder" in proc.stderr and "Traceback" not in proc.stderr


def test_outputs_that_cannot_be_written_error_that_notebook_only(tmp_path, private_tmp):
    """A file where a notebook's output folder should be: that notebook is ERRORED
    with the reason, nothing half-written is left, the others build."""
    import io

    from nbbuild.report.progress import PlainReporter

    from ..conftest import write_notebook

    course = tmp_path / "c"
    write_notebook(course / "ok.ipynb", "print(1)")
    write_notebook(course / "part" / "blocked.ipynb", "print(2)")
    out = tmp_path / "out"
    out.mkdir()
    (out / "part").write_text("a file where a folder should be")
    stream = io.StringIO()
    result = build(load_settings(course, workers=2, out=str(out), out_overwrite=True),
                   PlainReporter(stream))
    by_name = {str(r.source.rel): r for r in result.results}
    assert by_name["ok.ipynb"].status is Status.BUILT
    blocked = by_name["part/blocked.ipynb"]
    assert blocked.status is Status.ERRORED
    assert str(blocked.error).startswith("part/blocked.ipynb: outputs not written:")
    assert not list(out.rglob("*.tmp"))
    assert (out / "ok.html").is_file()
