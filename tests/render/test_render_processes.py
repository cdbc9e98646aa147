"""Render processes beside the export thread: the same bytes, a process that dies
is replaced, none outlives nbbuild, and the rule that decides how many."""

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from nbbuild import build, load_settings
from nbbuild.config import ConfigError
from nbbuild.course import editions
from nbbuild.course.discover import discover
from nbbuild.pipeline.session import ExportThread
from nbbuild.render import render_processes
from nbbuild.render.output_folder import OutputFolder
from nbbuild.render.render_processes import processes_for

from ..conftest import default_sigint, kernel_processes, write_course, write_notebook

LECTURE = """# %% [markdown]
# # Lecture {i}
# See [the next one](lecture{j}.py). Math: $e^{{i\\pi}} + 1 = 0$.

# %% [markdown] lang="en"
# In English.

# %% [markdown] lang="de"
# Auf Deutsch.

# %% tags=["solution"]
print("answer", {i} * 7)

# %% [markdown] tags=["notes"]
# Say this aloud.

# %%
import time
time.sleep({sleep})
{{"value": {i}}}
"""


def _course(root, count=8, sleep=0.0, settings=""):
    files = {f"lecture{i}.py": LECTURE.format(i=i, j=(i + 1) % count, sleep=sleep)
             for i in range(count)}
    return write_course(
        root, 'editions = ["completed", "code-along", "speaker"]\nlanguages = ["en", "de"]\n'
        + settings, files)


def _files(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".nbbuild" not in p.name and "search" not in p.name}


@pytest.mark.integration
def test_processes_write_the_bytes_the_export_thread_writes(tmp_path, private_tmp):
    """Editions x languages: every page, deck, notebook and script the same."""
    builds = {}
    course = _course(tmp_path / "course", sleep=0.3)
    for processes in (0, 2):
        shutil.rmtree(course / "_build", ignore_errors=True)
        shutil.rmtree(course / ".nbbuild", ignore_errors=True)
        result = build(load_settings(course, workers=2, render_processes=processes))
        assert result.ok, [str(r.error) for r in result.results if r.error]
        assert result.render_processes == processes
        builds[processes] = _files(course / "_build")
    assert len(builds[0]) > 8 * 2 * 3 * 3
    assert builds[2].keys() == builds[0].keys()
    differ = [name for name in builds[0] if builds[0][name] != builds[2][name]]
    assert differ == []
    assert kernel_processes(private_tmp) == []


def _loaded(course, name, settings):
    source = next(s for s in discover(settings).sources if s.rel.name == name and s.lang == "en")
    return editions.read(source, settings)


@pytest.mark.integration
def test_a_notebook_whose_process_died_is_rendered_on_the_thread_and_the_processes_replaced(
        tmp_path, private_tmp):
    course = _course(tmp_path / "course", count=2)
    settings = load_settings(course, workers=1)
    thread = ExportThread(settings)
    folder = OutputFolder.claim(settings.out, settings.course)

    async def main():
        thread.prepare(settings, 2)
        processes = thread.processes
        deadline = time.monotonic() + 60
        while processes.ready < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert processes.ready == 2
        first = await thread.render(_loaded(course, "lecture0.py", settings), folder, None)
        # A process dies (the OOM killer, say): the next render goes to the pool,
        # finds it broken, and is rendered on the thread instead.
        for pid in processes.pids():
            os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(0.3)
        second = await thread.render(_loaded(course, "lecture1.py", settings), folder, None)
        while processes.ready < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        third = await thread.render(_loaded(course, "lecture0.py", settings), folder, {
            next(iter(first.outputs))})
        return first, second, third, processes.ready

    try:
        first, second, third, ready = asyncio.run(main())
    finally:
        thread.close()
        folder.release()
    assert ready == 2
    for written in (first, second):
        assert written.written and all((settings.out / p).is_file() for p in written.written)
        assert all(folder.owns(p) for p in written.written)
    assert len(third.written) == 1
    assert kernel_processes(private_tmp) == []


def _render_processes_of(marker):
    return [p for p in kernel_processes(marker)
            if "multiprocessing" in " ".join(p.cmdline())]


@pytest.mark.integration
@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C"])
def test_no_render_process_outlives_nbbuild(tmp_path, private_tmp, how):
    course = _course(tmp_path / "course", count=4, sleep=30)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbbuild", "build", str(course), "-j", "2", "-q",
         "--render-processes", "2"],
        env={**os.environ, "TMPDIR": str(private_tmp)}, preexec_fn=default_sigint,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        # The fork server and two processes forked from it.
        while time.monotonic() < deadline and len(_render_processes_of(private_tmp)) < 3:
            time.sleep(0.1)
        assert len(_render_processes_of(private_tmp)) >= 3, "no render processes started"
        proc.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
        proc.wait(timeout=60)
        ended = time.monotonic()
        while time.monotonic() - ended < 10 and kernel_processes(private_tmp):
            time.sleep(0.1)
        left = kernel_processes(private_tmp)
    finally:
        if proc.poll() is None:
            proc.kill()
    for orphan in left:
        orphan.kill()
    assert left == [], [" ".join(p.cmdline()) for p in left]
    if how == "Ctrl-C":
        assert proc.returncode == 130


def test_how_many_render_processes_by_default(monkeypatch):
    monkeypatch.setattr(render_processes, "cores", lambda: 8)
    assert processes_for("auto", 3000, 1000) == 8
    assert processes_for("auto", 150, 50) == 0      # too little to render
    assert processes_for(3, 10, 10) == 3            # as set
    monkeypatch.setattr(render_processes, "cores", lambda: 2)
    assert processes_for("auto", 3000, 1000) == 0   # 3 files per notebook on 2 cores
    assert processes_for("auto", 1920, 80) == 2     # 24 files per notebook
    monkeypatch.setattr(render_processes, "cores", lambda: 1)
    assert processes_for("auto", 1920, 80) == 0
    assert processes_for(0, 1920, 80) == 0


def test_render_processes_setting_is_checked(tmp_path):
    write_course(tmp_path / "c", "render_processes = -1\n", {})
    with pytest.raises(ConfigError, match='render_processes must be "auto" or a whole number'):
        load_settings(tmp_path / "c")
    write_course(tmp_path / "d", 'render_processes = "auto"\n', {})
    assert load_settings(tmp_path / "d").render_processes == "auto"
    proc = subprocess.run([sys.executable, "-m", "nbbuild", "build", str(tmp_path / "d"),
                           "--render-processes", "many"], capture_output=True, text=True)
    assert proc.returncode == 2 and "a whole number or auto" in proc.stderr

