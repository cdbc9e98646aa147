"""What a notebook starts dies with its kernel: children, daemons that leave the
session, memory hogs in a subprocess; a notebook that kills its parent costs only
its own notebook. Real kernels, real processes, real SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import psutil
import pytest

from ..conftest import write_notebook

pytestmark = pytest.mark.integration

# A cell that leaves three processes behind, each carrying TOKEN on its command
# line: a plain child, a child in a session of its own, and a daemon made the
# classic way (fork, setsid, fork again, the middle one exits).
_STARTS_PROCESSES = """
import os, subprocess, sys
sleeper = [sys.executable, "-c", "import time; time.sleep(300)", "{token}"]
plain = subprocess.Popen(sleeper)
session = subprocess.Popen(sleeper, start_new_session=True)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, sleeper)
    os._exit(0)
os.wait()
print("started")
"""


def _left(token: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.info["status"] != psutil.STATUS_ZOMBIE and token in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


def _wait_gone(token: str, seconds: float) -> list[psutil.Process]:
    deadline = time.monotonic() + seconds
    while (left := _left(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill_all(token: str) -> None:
    for proc in _left(token):
        proc.kill()


@pytest.mark.parametrize("fork", ["--fork", "--no-fork"])
def test_processes_a_notebook_starts_end_with_the_build(tmp_path, private_tmp, fork):
    token = f"nbbuild-test-{uuid.uuid4().hex}"
    course = tmp_path / "c"
    write_notebook(course / "starts.ipynb", _STARTS_PROCESSES.format(token=token))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "nbbuild", str(course), "-j", "1", fork],
            capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        left = _wait_gone(token, 3.0)
        if fork == "--fork":
            assert left == []
        else:  # spawned kernels: children and session leaders, not double-forked daemons
            assert len(left) <= 1, [p.info["cmdline"] for p in left]
    finally:
        _kill_all(token)


def test_processes_a_notebook_starts_end_when_nbbuild_is_killed(tmp_path, private_tmp):
    token = f"nbbuild-test-{uuid.uuid4().hex}"
    course = tmp_path / "c"
    flag = tmp_path / "flag"
    write_notebook(course / "starts.ipynb", _STARTS_PROCESSES.format(token=token)
                   + f"\nopen({str(flag)!r}, 'w').close()\nimport time\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-m", "nbbuild", str(course), "-j", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not flag.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert flag.exists()
        while len(_left(token)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # a loaded machine: the daemon may not have started yet
        assert len(_left(token)) == 3
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(token, 5.0) == []
    finally:
        proc.kill()
        proc.wait(10)  # no zombie left for the next test of this worker
        _kill_all(token)


def test_kernel_memory_counts_the_processes_a_notebook_starts(tmp_path, private_tmp):
    from nbbuild import build
    from nbbuild.config import load_settings
    from nbbuild.model import Status

    course = tmp_path / "c"
    hog = ("import subprocess, sys\n"
           "subprocess.run([sys.executable, '-c', "
           "'import time; x = bytearray(400 * 2**20); time.sleep(30)'])")
    write_notebook(course / "hog.ipynb", hog)
    (course / "nbbuild.toml").write_text("kernel_memory_mb = 200\n")
    result = build(load_settings(course, workers=1))
    (only,) = result.results
    assert only.status is Status.ERRORED
    assert "over its limit of 200 MB (kernel_memory_mb)" in str(only.error)


def test_a_notebook_that_kills_its_parent_costs_only_itself(tmp_path, private_tmp):
    from nbbuild import build
    from nbbuild.config import load_settings
    from nbbuild.model import Status

    course = tmp_path / "c"
    write_notebook(course / "00-killer.ipynb",
                   "import time; time.sleep(0.5)",
                   "import os, signal; os.kill(os.getppid(), signal.SIGKILL)",
                   "import time; time.sleep(5)")
    # One that kills the kernel template itself (its parent's parent).
    write_notebook(course / "00-kills-template.ipynb",
                   "import time; time.sleep(0.7)",
                   "import os, psutil, signal\n"
                   "os.kill(psutil.Process(os.getppid()).ppid(), signal.SIGKILL)",
                   "print('still here')")
    for n in range(3):
        write_notebook(course / f"{n + 1:02}-innocent.ipynb", "import time; time.sleep(2)",
                       f"print('innocent {n}')")
    for n in range(3, 6):  # after the template is gone: forked from a new one
        write_notebook(course / f"{n + 1:02}-later.ipynb", f"print('later {n}')")
    result = build(load_settings(course, workers=4))
    status = {str(r.source.rel): r.status for r in result.results}
    assert status["00-killer.ipynb"] is Status.ERRORED
    assert status["00-kills-template.ipynb"] is Status.BUILT  # its own kernel lives on
    assert [status[f"{n + 1:02}-innocent.ipynb"] for n in range(3)] == [Status.BUILT] * 3
    assert [status[f"{n + 1:02}-later.ipynb"] for n in range(3, 6)] == [Status.BUILT] * 3
    from ..conftest import kernel_processes

    assert kernel_processes(private_tmp) == []


def test_keeper_helpers_find_every_descendant():
    """The template's /proc walk (it may run in an interpreter without psutil)
    finds the same descendants as psutil."""
    from nbbuild.kernels import kernel_template
    child = subprocess.Popen([sys.executable, "-c",
                              "import subprocess, sys, time; "
                              "subprocess.Popen([sys.executable, '-c', 'import time; "
                              "time.sleep(30)']); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10
        top = psutil.Process(child.pid)
        while len(top.children(recursive=True)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        # Within this test's own tree: other tests of this worker may leave processes
        # that come and go while it runs.
        expected = sorted(p.pid for p in top.children(recursive=True))
        assert len(expected) == 1
        assert kernel_template._descendants(child.pid) == expected
        assert {child.pid, *expected} <= set(kernel_template._descendants(os.getpid()))
    finally:
        for p in psutil.Process().children(recursive=True):
            p.kill()
        child.wait()


def test_connection_folders_of_killed_builds_are_removed_at_the_next_start(tmp_path):
    from nbbuild.kernels.runtime_dir import remove_dead_runtime_dirs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    left = tmp_path / f"nbbuild-{dead.pid}-abcd1234"
    (left / "template-1").mkdir(parents=True)
    (left / "kernel-1.json").write_text("{}")
    alive = tmp_path / f"nbbuild-{os.getpid()}-efgh5678"
    alive.mkdir()
    other = tmp_path / "nbbuild-notes"
    other.mkdir()
    assert remove_dead_runtime_dirs(tmp_path) == [left]
    assert not left.exists() and alive.is_dir() and other.is_dir()
