"""Notebooks on a local Dask cluster of 2 worker processes: failures reported as in a
local build, and a worker lost in the middle of a notebook."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import PurePosixPath

import psutil
import pytest

from nbbuild import build, load_settings
from nbbuild.model import Status

from ..conftest import kernel_processes, write_notebook
from .test_build_errors import assert_as_expected

# One local cluster at a time (with the course matrix's): two schedulers starting
# at the same instant in two test processes can trip over each other's ports.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("course-matrix")]


def test_failures_on_the_cluster_are_reported_as_in_a_local_build(broken, private_tmp):
    result = build(load_settings(broken, workers=2, cluster="local:2"))
    assert_as_expected(result)
    assert (broken / "_build" / "good.html").is_file()
    assert not list((broken / "_build").glob("raises.*"))
    assert kernel_processes(private_tmp) == []


def _dask_worker(pid: int) -> psutil.Process | None:
    """The Dask worker process a kernel runs under (its nearest ancestor started by
    multiprocessing)."""
    try:
        process = psutil.Process(pid)
        for parent in process.parents():
            if "multiprocessing" in " ".join(parent.cmdline()):
                return parent
    except psutil.Error:
        return None
    return None


def test_a_worker_lost_mid_notebook_is_retried_elsewhere_and_reported(tmp_path, private_tmp):
    hold, pids = tmp_path / "hold", tmp_path / "pids"
    hold.write_text("hold")
    course = tmp_path / "course"
    write_notebook(course / "slow.ipynb",
                   f"import os, time\nopen({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n')\n"
                   f"while os.path.exists({str(hold)!r}):\n    time.sleep(0.1)\nprint('done')")
    for i in range(3):
        write_notebook(course / f"quick{i}.ipynb", f"print({i})")
    done: dict = {}

    def run() -> None:
        try:
            done["result"] = build(load_settings(course, workers=2, cluster="local:2"))
        except BaseException as exc:  # shown by the assertion below
            done["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (pids.exists() and pids.read_text().strip()):
        assert "error" not in done, repr(done.get("error"))
        time.sleep(0.1)
    worker = _dask_worker(int(pids.read_text().split()[0]))
    assert worker is not None, "the slow notebook's worker was not found"
    os.kill(worker.pid, signal.SIGKILL)
    time.sleep(1.0)
    hold.unlink()  # the retry may finish
    thread.join(120)
    assert not thread.is_alive()
    result = done["result"]
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    slow = next(r for r in result.results if r.source.rel.name == "slow.ipynb")
    assert any("retried on" in reason and "was lost" in reason for reason in slow.reasons)
    assert len(pids.read_text().split()) == 2  # it ran twice: once per worker
    assert "done" in (course / "_build" / "slow.html").read_text()
    assert all(r.status is Status.BUILT for r in result.results)
    assert kernel_processes(private_tmp) == []


def test_without_cluster_dask_is_never_imported(tmp_path, private_tmp):
    import subprocess
    import sys

    write_notebook(tmp_path / "a.ipynb", "print(1)")
    code = ("import sys; from nbbuild import build, load_settings; "
            f"assert build(load_settings({str(tmp_path)!r}, workers=1)).ok; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("spec, message", [
    ("local:zero", "whole number"),
    ("scheduler:8786", "give a scheduler address (tcp://host:8786) or local[:N]"),
])
def test_a_bad_cluster_is_a_usage_error(tmp_path, spec, message):
    from ..conftest import run_nbbuild

    write_notebook(tmp_path / "a.ipynb", "print(1)")
    proc = run_nbbuild("build", str(tmp_path), "--cluster", spec)
    assert proc.returncode == 2 and message in proc.stderr


def test_a_persistent_clusters_copy_of_the_course_loses_deleted_files(tmp_path, private_tmp):
    """Two builds on one long-lived cluster: a data file deleted from the course is
    gone from the workers' copies too, and kernels started there are counted."""
    from distributed import LocalCluster

    course = tmp_path / "c"
    (course / "data").mkdir(parents=True)
    (course / "data" / "old.csv").write_text("x\n1\n")
    write_notebook(course / "reader.ipynb",
                   "import os\nprint('old.csv there:', os.path.exists('data/old.csv'))")
    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=":0", scheduler_port=0, silence_logs=40)
    try:
        settings = dict(workers=1, cluster=cluster.scheduler_address)
        first = build(load_settings(course, **settings))
        assert first.ok and first.kernels_started == 1
        assert "old.csv there: True" in (course / "_build" / "reader.html").read_text()
        (course / "data" / "old.csv").unlink()
        second = build(load_settings(course, **settings), force=True)
        assert second.ok and second.kernels_started == 1
        assert "old.csv there: False" in (course / "_build" / "reader.html").read_text()
    finally:
        cluster.close()
    assert kernel_processes(private_tmp) == []


def test_a_workers_copy_keeps_files_notebooks_wrote(tmp_path):
    from nbbuild.pipeline.cluster import KernelsPlugin

    plugin = KernelsPlugin()
    root = tmp_path / "copy"
    plugin.sync(root, PurePosixPath("part"), {"part/a.csv": b"a", "part/b.csv": b"b"})
    (root / "part" / "written-by-a-notebook.png").write_bytes(b"png")
    plugin.sync(root, PurePosixPath("part"), {"part/a.csv": b"A"})
    assert sorted(p.name for p in (root / "part").iterdir()) == ["a.csv",
                                                                 "written-by-a-notebook.png"]
    assert (root / "part" / "a.csv").read_bytes() == b"A"
