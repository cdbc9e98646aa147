"""One build of a course at a time."""

import subprocess
import sys
import time

import pytest

from nbbuild.store.lock import BuildLock, CourseLocked

from ..conftest import write_notebook

HOLD = """
import sys, time
from pathlib import Path
from nbbuild.store.lock import BuildLock
lock = BuildLock(Path(sys.argv[1]))
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _holder(folder, seconds):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_holder_is_refused_when_not_waiting(tmp_path):
    proc = _holder(tmp_path, 30)
    try:
        with pytest.raises(CourseLocked, match=f"pid {proc.pid}"):
            BuildLock(tmp_path).acquire(wait=False)
    finally:
        proc.kill()
        proc.communicate()
    lock = BuildLock(tmp_path)  # a killed holder leaves no stale lock
    lock.acquire(wait=False)
    lock.release()


def test_second_holder_waits_and_says_so(tmp_path):
    proc = _holder(tmp_path, 1.0)
    messages = []
    began = time.monotonic()
    lock = BuildLock(tmp_path)
    lock.acquire(on_wait=messages.append)
    waited = time.monotonic() - began
    lock.release()
    proc.communicate()
    assert waited > 0.3
    assert messages and "waiting for another build" in messages[0]


@pytest.mark.integration
def test_two_builds_of_one_course_never_overlap(tmp_path, private_tmp):
    import os

    course = tmp_path / "c"
    log = tmp_path / "runs.log"
    write_notebook(course / "n.ipynb",
                   "import time\n"
                   f"with open({str(log)!r}, 'a') as f: f.write(f'start {{time.time()}}\\n')\n"
                   "time.sleep(1.0)\n"
                   f"with open({str(log)!r}, 'a') as f: f.write(f'end {{time.time()}}\\n')")
    cmd = [sys.executable, "-m", "nbbuild", "build", str(course), "-j", "1", "--force"]
    env = {**os.environ, "TMPDIR": str(private_tmp)}
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.3)
    second = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out1, _ = first.communicate(timeout=120)
    out2, _ = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, out1 + out2
    assert "waiting for another build" in out1 + out2
    events = [line.split() for line in log.read_text().splitlines()]
    assert [e[0] for e in events] == ["start", "end", "start", "end"]  # never interleaved
    assert float(events[2][1]) >= float(events[1][1])
