"""Watch mode with a real watchdog observer, real kernels and real files.

Each notebook appends to a log outside the course when it runs (``name vN start``
and ``name vN end``), so the tests count executions and see which content ran.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from nbbuild.watch.loop import Watcher

from ..conftest import default_sigint, kernel_processes

pytestmark = pytest.mark.integration


def lecture(log: Path, name: str, version: int, extra: str = "", seconds: float = 0) -> str:
    wait = f"import time; time.sleep({seconds})\n" if seconds else ""
    return (
        f"# %% [markdown]\n# # {name} v{version}\n\n"
        f"# %%\nopen({str(log)!r}, 'a').write('{name} v{version} start\\n')\n"
        f"{wait}{extra}"
        f"print('{name} says v{version}')\n"
        f"open({str(log)!r}, 'a').write('{name} v{version} end\\n')\n"
    )


class Running:
    """A Watcher on its own thread and event loop, as `nbbuild watch` runs it."""

    def __init__(self, course: Path, log: Path, **options) -> None:
        self.course, self.log = course, log
        self.watcher = Watcher(course, {"workers": 2}, debounce=options.pop("debounce", 0.2),
                               **options)
        self.thread = threading.Thread(target=lambda: asyncio.run(self.watcher.run()), daemon=True)

    def __enter__(self) -> Running:
        self.thread.start()
        assert self.watcher.ready.wait(60), "the first build did not finish"
        return self

    def __exit__(self, *exc) -> None:
        self.watcher.stop()
        self.thread.join(30)
        assert not self.thread.is_alive()

    def lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def builds(self) -> int:
        return self.watcher.build_count

    def wait_for_build(self, after: int, timeout: float = 30) -> None:
        """Until a build after the first ``after`` has finished and the loop is idle."""
        wait_until(lambda: self.builds() > after and self.idle(), timeout)

    def idle(self, quiet: float = 0.6) -> bool:
        """No build running and no change pending for ``quiet`` seconds."""
        count = self.builds()
        time.sleep(quiet)
        return self.builds() == count and not self.watcher._changed


def wait_until(predicate, timeout: float = 30, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError("condition not met in time")


@pytest.fixture
def course(tmp_path, private_tmp):
    root = tmp_path / "course"
    (root / "data").mkdir(parents=True)
    log = tmp_path / "runs.log"
    (root / "data" / "table.csv").write_text("x\n1\n2\n")
    (root / "reader.py").write_text(lecture(log, "reader", 1, "print(open('data/table.csv').read())\n"))
    (root / "other.py").write_text(lecture(log, "other", 1))
    (root / "third.py").write_text(lecture(log, "third", 1))
    return root, log


def _mtimes(root: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (root / "_build").glob("*.html")}


def test_an_edit_rebuilds_only_that_notebook(course):
    root, log = course
    with Running(root, log) as w:
        assert sorted(w.lines()) == sorted(f"{n} v1 {e}" for n in ("reader", "other", "third")
                                           for e in ("start", "end"))
        before, builds, lines = _mtimes(root), w.builds(), len(w.lines())
        (root / "other.py").write_text(lecture(log, "other", 2))
        w.wait_for_build(builds)
        assert w.lines()[lines:] == ["other v2 start", "other v2 end"]
        after = _mtimes(root)
        assert after["reader.html"] == before["reader.html"]
        assert after["third.html"] == before["third.html"]
        assert "other says v2" in (root / "_build" / "other.html").read_text()


def test_a_data_file_edit_rebuilds_exactly_its_readers(course):
    root, log = course
    with Running(root, log) as w:
        builds, lines = w.builds(), len(w.lines())
        (root / "data" / "table.csv").write_text("x\n1\n2\n3\n")
        w.wait_for_build(builds)
        assert w.lines()[lines:] == ["reader v1 start", "reader v1 end"]
        assert (root / "_build" / "data" / "table.csv").read_text() == "x\n1\n2\n3\n"


def test_rapid_saves_end_in_one_build_of_the_final_content(course):
    root, log = course
    with Running(root, log) as w:
        builds = w.builds()
        for version in range(2, 12):  # ten saves, 50 ms apart
            (root / "third.py").write_text(lecture(log, "third", version))
            time.sleep(0.05)
        w.wait_for_build(builds)
        finished = [line for line in w.lines() if line.startswith("third v") and
                    line.endswith(" end")]
        assert finished[-1] == "third v11 end" and finished.count("third v11 end") == 1
        assert "third says v11" in (root / "_build" / "third.html").read_text()
        assert w.builds() - builds <= 3  # debounced, not one build per save


def test_an_edit_during_its_build_supersedes_it(course):
    root, log = course
    with Running(root, log) as w:
        builds = w.builds()
        (root / "third.py").write_text(lecture(log, "third", 2, seconds=4))
        wait_until(lambda: "third v2 start" in w.lines())
        began = time.monotonic()
        (root / "third.py").write_text(lecture(log, "third", 3))
        w.wait_for_build(builds)
        assert "third v2 end" not in w.lines()  # cancelled: its kernel was discarded
        assert w.lines()[-2:] == ["third v3 start", "third v3 end"]
        assert time.monotonic() - began < 4  # did not wait for the old build
        assert "third says v3" in (root / "_build" / "third.html").read_text()


def test_write_then_rename_saves_are_seen_and_editor_files_ignored(course):
    root, log = course
    with Running(root, log) as w:
        builds = w.builds()
        for junk in ("other.py~", "4913", ".other.py.swp", "#other.py#", "other.py___jb_tmp___"):
            (root / junk).write_text("junk")
        time.sleep(1.0)
        assert w.builds() == builds  # nothing to rebuild
        temporary = root / "other.py___jb_tmp___"  # JetBrains, vim and VS Code save like this
        temporary.write_text(lecture(log, "other", 2))
        os.replace(temporary, root / "other.py")
        w.wait_for_build(builds)
        assert "other says v2" in (root / "_build" / "other.html").read_text()
        assert not (root / "_build" / "other.py~").exists()  # backups are not course files


def test_a_failing_edit_keeps_the_loop_alive_and_a_good_edit_recovers(course):
    root, log = course
    with Running(root, log) as w:
        builds = w.builds()
        (root / "other.py").write_text(lecture(log, "other", 2, "1 / 0\n"))
        w.wait_for_build(builds)
        result = w.watcher.results["other.py"]
        assert result.status.value == "failed" and "ZeroDivisionError" in str(result.error)
        assert "cell 2" in str(result.error)
        page = (root / "_build" / "other.html").read_text()  # the preview shows where it broke
        assert "This lecture failed to build." in page and "ZeroDivisionError" in page
        builds = w.builds()
        (root / "other.py").write_text(lecture(log, "other", 3))
        w.wait_for_build(builds)
        assert w.watcher.results["other.py"].ok
        assert "other says v3" in (root / "_build" / "other.html").read_text()


def test_deleting_and_renaming_notebooks_and_files_moves_their_outputs(course):
    root, log = course
    with Running(root, log) as w:
        builds = w.builds()
        (root / "third.py").unlink()
        w.wait_for_build(builds)
        assert not list((root / "_build").glob("third.*"))
        assert "third" not in (root / "_build" / "index.html").read_text()
        builds, lines = w.builds(), len(w.lines())
        os.replace(root / "other.py", root / "renamed.py")
        w.wait_for_build(builds)
        assert not list((root / "_build").glob("other.*"))
        assert "other says v1" in (root / "_build" / "renamed.html").read_text()
        assert w.lines()[lines:] == []  # same code, same folder: rendered from the cache
        # A course file that goes loses its copy; a file of the author's stays.
        (root / "_build" / "CNAME").write_text("course.example.org")
        (root / "notes.txt").write_text("x")
        w.wait_for_build(w.builds())
        assert (root / "_build" / "notes.txt").is_file()
        (root / "notes.txt").unlink()
        w.wait_for_build(w.builds())
        assert not (root / "_build" / "notes.txt").exists()
        assert (root / "_build" / "CNAME").read_text() == "course.example.org"


def test_a_settings_change_rebuilds_with_the_new_settings(course):
    root, log = course
    with Running(root, log) as w:
        builds = w.builds()
        (root / "nbbuild.toml").write_text('formats = ["html", "code"]\n')
        w.wait_for_build(builds)
        assert (root / "_build" / "other.py").is_file()


def test_ctrl_c_ends_watch_mode_promptly_with_no_kernel_left(course, private_tmp):
    root, log = course
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbbuild", "watch", str(root), "-j", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_sigint,
    )
    try:
        wait_until(lambda: log.exists() and len(log.read_text().splitlines()) == 6, 60)
        (root / "third.py").write_text(lecture(log, "third", 2, seconds=30))
        wait_until(lambda: "third v2 start" in log.read_text(), 30)
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
        assert time.monotonic() - began < 3, out
    finally:
        proc.kill()
    assert "stopped watching" in out
    wait_until(lambda: not kernel_processes(private_tmp), 5)


class _Warnings:
    """A reporter that keeps warnings (watch mode prints them)."""

    def __init__(self) -> None:
        from nbbuild.report.progress import NullReporter

        self.inner = NullReporter()
        self.seen: list[str] = []

    def warning(self, text: str) -> None:
        self.seen.append(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_invalid_settings_are_reported_and_the_last_good_ones_kept(course):
    root, log = course
    warnings = _Warnings()
    with Running(root, log, reporter=warnings) as w:
        (root / "nbbuild.toml").write_text("formats = [\n")  # a save half way through
        wait_until(lambda: any("not valid TOML" in t for t in warnings.seen), 30)
        assert w.thread.is_alive()
        builds = w.builds()
        (root / "other.py").write_text(lecture(log, "other", 2))
        w.wait_for_build(builds)
        assert "other v2 end" in w.lines()  # still watching, with the old settings
        (root / "nbbuild.toml").write_text('formats = ["html", "code"]\n')
        w.wait_for_build(w.builds())
        assert (root / "_build" / "other.py").is_file()


def test_a_deleted_course_folder_is_waited_for_and_watched_again(course, tmp_path):
    import shutil

    root, log = course
    warnings = _Warnings()
    with Running(root, log, reporter=warnings) as w:
        kept = tmp_path / "kept"
        shutil.move(root, kept)
        wait_until(lambda: any("was deleted; waiting" in t for t in warnings.seen), 30)
        time.sleep(1.0)
        assert not root.exists()  # not re-created behind the author's back
        builds = w.builds()
        shutil.move(kept, root)
        w.wait_for_build(builds, timeout=60)
        builds = w.builds()
        (root / "other.py").write_text(lecture(log, "other", 3))
        w.wait_for_build(builds)
        assert "other v3 end" in w.lines()


def test_a_long_watch_session_does_not_grow_with_each_build(tmp_path, private_tmp):
    """Python memory traced between the 30th and the 60th rebuild: the caches that
    remember highlighting and cleaned HTML are bounded, results are not kept per
    build, and package versions are looked up once."""
    import gc
    import tracemalloc

    root = tmp_path / "c"
    root.mkdir()
    (root / "a.py").write_text("# %%\nprint(0)\n")
    with Running(root, tmp_path / "unused.log", debounce=0.05) as w:
        tracemalloc.start()
        try:
            traced = {}
            for n in range(1, 61):
                builds = w.builds()
                (root / "a.py").write_text(f"# %%\nprint({n})\n")
                wait_until(lambda: w.builds() > builds, 30)
                if n in (30, 60):
                    time.sleep(0.3)
                    gc.collect()
                    traced[n] = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    growth = (traced[60] - traced[30]) / 30
    assert growth < 5 * 1024, f"{growth:.0f} bytes per build"
