"""The CLI is thin: these tests patch build() and check what it was given."""

from pathlib import Path

import pytest
from click.testing import CliRunner

import nbbuild.pipeline.build as build_module
from nbbuild import __version__
from nbbuild.cli import main
from nbbuild.errors import BuildInterrupted, DiscoveryError
from nbbuild.model import BuildResult, NotebookResult, Source, SourceKind, Status


@pytest.fixture
def calls(monkeypatch):
    seen = []

    def fake_build(settings, reporter=None, **options):
        seen.append(settings)
        return BuildResult([], 0.0, settings.out)

    monkeypatch.setattr(build_module, "build", fake_build)
    return seen


def test_bare_course_argument_means_build(tmp_path, calls):
    result = CliRunner().invoke(main, [str(tmp_path), "--workers", "3"])
    assert result.exit_code == 0, result.output
    assert calls[0].course == tmp_path.resolve() and calls[0].workers == 3


def test_build_options_reach_the_settings(tmp_path, calls):
    out = tmp_path / "site"
    result = CliRunner().invoke(main, [
        "build", str(tmp_path), "--out", str(out), "--formats", "html,notebook",
        "--timeout", "12", "-q"])
    assert result.exit_code == 0, result.output
    s = calls[0]
    assert (s.out, s.formats, s.timeout) == (out.resolve(), ("html", "notebook"), 12)


def test_command_line_overrides_the_course_file(tmp_path, calls):
    (tmp_path / "nbbuild.toml").write_text("workers = 2\ntimeout = 5\n")
    CliRunner().invoke(main, [str(tmp_path), "-j", "7"])
    assert (calls[0].workers, calls[0].timeout) == (7, 5)


def test_bad_format_exits_2_with_a_message(tmp_path, calls):
    result = CliRunner().invoke(main, [str(tmp_path), "--formats", "pdf"])
    assert result.exit_code == 2 and "unknown format pdf" in result.output and not calls


def test_zero_workers_is_rejected(tmp_path, calls):
    assert CliRunner().invoke(main, [str(tmp_path), "--workers", "0"]).exit_code == 2


def _fail_with(monkeypatch, exc=None, status=None):
    def fake_build(settings, reporter=None, **options):
        if exc is not None:
            raise exc
        src = Source(path=Path("x.ipynb"), rel=Path("x.ipynb"), kind=SourceKind.IPYNB)
        return BuildResult([NotebookResult(src, status)], 0.0, settings.out)

    monkeypatch.setattr(build_module, "build", fake_build)


def test_failed_notebooks_exit_1(tmp_path, monkeypatch):
    _fail_with(monkeypatch, status=Status.FAILED)
    assert CliRunner().invoke(main, [str(tmp_path), "-q"]).exit_code == 1


def test_discovery_errors_exit_2(tmp_path, monkeypatch):
    _fail_with(monkeypatch, exc=DiscoveryError("two sources clash"))
    result = CliRunner().invoke(main, [str(tmp_path)])
    assert result.exit_code == 2 and "two sources clash" in result.output


def test_interrupted_exits_130(tmp_path, monkeypatch):
    _fail_with(monkeypatch, exc=BuildInterrupted("interrupted"))
    assert CliRunner().invoke(main, [str(tmp_path)]).exit_code == 130


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert __version__ in result.output


def test_python_dash_m_and_console_script_exist():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "nbbuild", "--help"], capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "build" in proc.stdout


def test_root_package_stays_light():
    import subprocess
    import sys

    code = "import nbbuild, sys; print(any(m in sys.modules for m in ('nbconvert', 'jupyter_client')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.stdout.strip() == "False"


def test_cache_clear_is_the_way_out_of_a_damaged_store(tmp_path):
    course = tmp_path / "c"
    (course / ".nbbuild").mkdir(parents=True)
    (course / ".nbbuild" / "nbbuild.db").write_bytes(b"garbage" * 100)
    info = CliRunner().invoke(main, ["cache", "info", str(course)])
    assert info.exit_code == 0 and "error:" in info.output
    cleared = CliRunner().invoke(main, ["cache", "clear", str(course)])
    assert cleared.exit_code == 0 and "removed 1 file(s)" in cleared.output
    assert not (course / ".nbbuild" / "nbbuild.db").exists()
    assert "exists: False" in CliRunner().invoke(main, ["cache", "info", str(course)]).output


def test_maintenance_refuses_while_a_build_holds_the_lock(tmp_path):
    from nbbuild.store.lock import BuildLock

    course = tmp_path / "c"
    course.mkdir()
    lock = BuildLock(course / ".nbbuild")
    lock.acquire()
    try:
        # flock locks are per open file: a second open in this process is refused too.
        result = CliRunner().invoke(main, ["cache", "clear", str(course)])
        assert result.exit_code == 2 and "another build of this course is running" in result.output
    finally:
        lock.release()


def test_plan_on_a_damaged_store_says_how_out(tmp_path):
    course = tmp_path / "c"
    (course / ".nbbuild").mkdir(parents=True)
    (course / ".nbbuild" / "nbbuild.db").write_bytes(b"garbage" * 100)
    result = CliRunner().invoke(main, ["plan", str(course)])
    assert result.exit_code == 2 and "nbbuild cache clear" in result.output
