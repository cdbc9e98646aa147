"""Forked (and preloaded) kernels give the results a fresh kernel gives.

The reference is the real thing: ``jupyter nbconvert --execute``, one fresh kernel
per notebook. Each probe notebook prints one JSON object describing the state a
leak would change; nbbuild (forking, with numpy and matplotlib preloaded, named
or chosen by ``preload = "auto"``) must print the same objects. Two notebooks in the same folder run one after the
other on nbbuild's side, so state left behind by the first would show in the second.
"""

import json
import subprocess
import sys

import nbformat
import pytest

from nbbuild import build, load_settings

from ..conftest import kernel_processes, write_notebook

pytestmark = pytest.mark.integration

# Cell 1 tries to leave state behind; cell 2 reports what it sees. In a fresh
# kernel, cell 2 never sees what *another* notebook's cell 1 did.
DISTURB = r"""
import json as _json, os, random, signal, sys
_json.nbbuild_was_here = True                 # module state
sys.path.append("/nbbuild/leaked")            # sys.path
os.environ["NBBUILD_LEAKED"] = "1"            # environment
signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # signal handlers
_kept = open("data.txt")                      # an open file
os.chdir("..")                                # working directory
"""

PROBE = r"""
import json, multiprocessing, os, random, signal, sys
import matplotlib
import matplotlib.pyplot
import numpy
def _target(fd):
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # the listing's own descriptor, closed by now
        return ""
fds = [_target(fd) for fd in os.listdir("/proc/self/fd")]
print(json.dumps({
    "module_state": hasattr(json, "nbbuild_was_here"),
    "path_leak": "/nbbuild/leaked" in sys.path,
    "path_tail": [p for p in sys.path if "site-packages" not in p and "python3" not in p],
    "env_leak": "NBBUILD_LEAKED" in os.environ,
    # JPY_PARENT_PID's value differs by design; COLUMNS/LINES appear in nbconvert's
    # kernel under pytest only (terminal size handed down by the test run).
    "env_keys": sorted(k for k in os.environ
                       if not k.startswith(("JPY_", "PYDEVD")) and k not in ("COLUMNS", "LINES")),
    "cwd": os.path.basename(os.getcwd()),
    "sigusr1": int(signal.getsignal(signal.SIGUSR1)),
    "sigint": str(signal.getsignal(signal.SIGINT)),
    "start_method": multiprocessing.get_start_method(),
    "linewidth": matplotlib.rcParams["lines.linewidth"],
    "backend": matplotlib.get_backend(),
    "data_file_fds": sum(1 for f in fds if f.endswith("data.txt")),
    "random_is_seeded_per_kernel": random.random() != 0.6394267984578837,  # seed(0)'s first
}, sort_keys=True))
"""


def _probe_notebooks(folder):
    folder.mkdir(parents=True)
    (folder / "data.txt").write_text("data\n")
    (folder / "matplotlibrc").write_text("lines.linewidth: 7.5\n")
    # First the disturber, then the probe (nbbuild runs course order on a cold build).
    write_notebook(folder / "a_disturb.ipynb", DISTURB, "print('disturbed')")
    write_notebook(folder / "b_probe.ipynb", PROBE, "print(2 + 2)")


def _outputs(nb):
    return [
        [o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream"]
        for cell in nb.cells
        if cell.cell_type == "code"
    ], [cell.get("execution_count") for cell in nb.cells if cell.cell_type == "code"]


@pytest.mark.parametrize("fork,preload", [
    (True, '["numpy", "matplotlib", "matplotlib.pyplot"]'), (True, '"auto"'), (False, "[]")],
    ids=["forked-preloaded", "forked-auto-preload", "spawned"])
def test_kernels_match_nbconvert_execute(tmp_path, private_tmp, fork, preload):
    course = tmp_path / "course"
    course.mkdir()
    (course / "nbbuild.toml").write_text(f"preload = {preload}\n")
    _probe_notebooks(course / "with_rc")       # a matplotlibrc: no preload there
    plain = course / "plain"
    plain.mkdir()
    write_notebook(plain / "a_disturb.ipynb", DISTURB, "print('disturbed')")
    (plain / "data.txt").write_text("data\n")
    write_notebook(plain / "b_probe.ipynb", PROBE, "print(2 + 2)")

    result = build(load_settings(course, workers=1, fork_kernels=fork))
    assert result.ok, [str(r.error) for r in result.results if r.error]
    assert result.forked is fork
    if fork:  # the probes import numpy and pyplot: "auto" chooses them
        assert set(result.preload) >= {"numpy", "matplotlib.pyplot"}

    for folder in ("with_rc", "plain"):
        ours = nbformat.read(course / "_build" / folder / "b_probe.ipynb", as_version=4)
        reference = tmp_path / "ref" / folder
        subprocess.run(
            [sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "notebook",
             "--output-dir", str(reference), str(course / folder / "b_probe.ipynb")],
            check=True, capture_output=True,
        )
        theirs = nbformat.read(reference / "b_probe.ipynb", as_version=4)
        state = json.loads(_outputs(ours)[0][0][0])
        reference_state = json.loads(_outputs(theirs)[0][0][0])
        assert {k: v for k, v in state.items() if state[k] != reference_state.get(k)} == {}, (
            folder, reference_state)
        assert _outputs(ours) == _outputs(theirs), folder
        assert state["module_state"] is False and state["path_leak"] is False
        assert state["env_leak"] is False and state["cwd"] == folder
        assert state["data_file_fds"] == 0 and state["random_is_seeded_per_kernel"]
        assert state["linewidth"] == (7.5 if folder == "with_rc" else 1.5)
        assert "inline" in state["backend"]
    assert kernel_processes(private_tmp) == []
