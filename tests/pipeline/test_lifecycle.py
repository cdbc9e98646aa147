"""No kernel outlives nbbuild: after a build, a failed build and an interrupted one."""

import os
import signal
import subprocess
import sys
import time

import nbformat
import pytest

from nbbuild import build, load_settings

from ..conftest import default_sigint, kernel_processes, write_notebook

pytestmark = pytest.mark.integration


def _slow_course(root, hold):
    """Quick notebooks, and slow ones that wait as long as the file ``hold`` exists."""
    hold.write_text("hold")
    for i in range(4):
        write_notebook(root / f"{i}-quick.ipynb", "print('quick')")
    for i in range(3):
        write_notebook(root / f"{i}-slow.ipynb",
                       f"import os, time\nwhile os.path.exists({str(hold)!r}):\n    time.sleep(0.1)")
    return root


def test_no_kernels_after_a_successful_build(course, private_tmp):
    assert build(load_settings(course, workers=4)).ok
    assert kernel_processes(private_tmp) == []


def test_no_kernels_after_a_failed_build(broken, private_tmp):
    assert not build(load_settings(broken, workers=2)).ok
    assert kernel_processes(private_tmp) == []


@pytest.mark.parametrize(
    ("sig", "kernels"),
    [(signal.SIGINT, "--fork"), (signal.SIGTERM, "--fork"), (signal.SIGINT, "--no-fork")],
)
def test_interrupt_stops_promptly_without_kernels_or_partial_files(
    tmp_path, private_tmp, sig, kernels
):
    """Ctrl-C and SIGTERM, with forked kernels and with kernels started the usual way."""
    hold = tmp_path / "hold"
    course = _slow_course(tmp_path / "c", hold)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbbuild", "build", str(course), "--out", str(out), "-j", "2",
         kernels],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(private_tmp)}, preexec_fn=default_sigint,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(out.glob("*-quick.html")):
        time.sleep(0.1)
    time.sleep(1.5)  # the slow notebooks are running now
    assert kernel_processes(private_tmp), "the build should have kernels running"
    proc.send_signal(sig)
    began = time.monotonic()
    stdout, stderr = proc.communicate(timeout=30)
    assert time.monotonic() - began < 2
    assert proc.returncode == 130, stdout + stderr
    assert "interrupted" in stderr
    time.sleep(0.5)
    assert kernel_processes(private_tmp) == []
    assert not list(out.rglob("*.tmp"))
    for path in out.rglob("*.ipynb"):
        nbformat.read(path, as_version=4)  # whole, not half-written
    for path in out.rglob("*.html"):
        assert path.read_text().rstrip().endswith("</html>")
    assert not list(out.glob("*-slow.*"))
    # the database is consistent and the next build is correct: it executes only
    # what the interrupted build did not finish, and builds everything
    hold.unlink()
    again = build(load_settings(course, out=str(out), workers=2))
    assert again.ok
    assert {r.source.rel.name for r in again.results if r.action == "executed"} == {
        r.source.rel.name for r in again.results if "slow" in r.source.rel.name}
    assert len(list(out.glob("*-slow.html"))) == 3 and len(list(out.glob("*-quick.html"))) == 4
