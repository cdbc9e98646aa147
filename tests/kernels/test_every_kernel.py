"""Kernels that are not ipykernel, installed from the registries (bash_kernel and
xeus-python from PyPI, tslab from npm, IRkernel from Debian; .ci/run installs the
last two): a mixed course builds, rebuilds as a no-op, re-runs only what an edit
touched, lets a 15 s cell finish in every kernel, and leaves no kernel of any
language behind after Ctrl-C or kill -9."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nbbuild import build, load_settings
from nbbuild.model import Status

from ..conftest import kernel_processes

pytestmark = pytest.mark.integration

#: kernelspec name -> (language, a cell that prints a marker and reads data.csv).
KERNELS = {
    "python3": ("python", "print('from python', len(open('data.csv').read().split()))"),
    "bash": ("bash", "echo from bash $(wc -l < data.csv)"),
    "xpython": ("python", "print('from xeus', len(open('data.csv').read().split()))"),
    "tslab": ("typescript", "const n: number = 6 * 7;\nconsole.log('from typescript', n);"),
    "ir": ("R", "cat('from R', nrow(read.csv('data.csv')), '\\n')"),
}
SLEEP = {"python3": "import time; time.sleep({s})", "bash": "sleep {s}",
         "xpython": "import time; time.sleep({s})",
         "tslab": "await new Promise(r => setTimeout(r, {s}000));", "ir": "Sys.sleep({s})"}


@pytest.fixture
def kernelspecs(tmp_path, monkeypatch):
    """The kernelspecs of bash_kernel and tslab, as ``python -m bash_kernel.install``
    and ``tslab install`` write them, in a folder of this test's (installing them
    would change the environment). xeus-python's comes with its wheel, IRkernel's
    with Debian's package."""
    specs = {
        "bash": {"argv": [sys.executable, "-m", "bash_kernel", "-f", "{connection_file}"],
                 "display_name": "Bash", "language": "bash"},
        "tslab": {"argv": ["tslab", "kernel", "--config-path", "{connection_file}"],
                  "display_name": "TypeScript", "language": "typescript"},
    }
    for name, spec in specs.items():
        folder = tmp_path / "jupyter" / "kernels" / name
        folder.mkdir(parents=True)
        (folder / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))


def _notebook(path: Path, kernel: str, *cells: str) -> None:
    language = KERNELS[kernel][0]
    nb = new_notebook(cells=[new_markdown_cell(f"# {kernel}"), *map(new_code_cell, cells)],
                      metadata={"kernelspec": {"name": kernel, "display_name": kernel,
                                               "language": language}})
    nbformat.write(nb, path)


def _mixed(root: Path, sleep: int = 0) -> Path:
    course = root / "mixed"
    course.mkdir()
    (course / "data.csv").write_text("a,b\n1,2\n3,4\n")
    for name, (_language, code) in KERNELS.items():
        cells = [SLEEP[name].format(s=sleep)] if sleep else []
        _notebook(course / f"{name}.ipynb", name, *cells, code)
    return course


def _outputs(out: Path, name: str) -> str:
    nb = nbformat.read(out / f"{name}.ipynb", as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []))


def test_a_mixed_course_builds_rebuilds_and_reruns_only_what_changed(
        tmp_path, private_tmp, kernelspecs):
    course = _mixed(tmp_path)
    result = build(load_settings(course, workers=4))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    out = course / "_build"
    for name, marker in (("python3", "from python 3"), ("bash", "from bash 3"),
                         ("xpython", "from xeus 3"), ("tslab", "from typescript 42"),
                         ("ir", "from R 2")):
        assert marker in _outputs(out, name), (name, _outputs(out, name))
    starts = {r.source.stem.name: r.kernel_start for r in result.results}
    assert starts == {"python3": "forked", "bash": "spawned", "xpython": "spawned",
                      "tslab": "spawned", "ir": "spawned"}
    assert result.report["kernels_by_start"] == {"forked": 1, "spawned": 4}
    assert kernel_processes(private_tmp) == []

    again = build(load_settings(course, workers=4))
    assert [r.action for r in again.results] == ["up to date"] * 5

    # A code edit in the bash notebook re-runs it alone.
    _notebook(course / "bash.ipynb", "bash", "echo edited $(wc -l < data.csv)")
    edited = build(load_settings(course, workers=4))
    ran = sorted(r.source.stem.name for r in edited.results if r.action == "executed")
    assert ran == ["bash"] and "edited 3" in _outputs(out, "bash")

    # A data edit re-runs the notebooks that read it: the Python one, whose kernel
    # says so, and every non-Python one, which depend on their folder's files.
    (course / "data.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    from nbbuild.pipeline.plan import plan_with_notes

    planned = {rel.split("/")[-1]: (action, reasons) for rel, action, reasons in
               plan_with_notes(load_settings(course, workers=4))[0]}
    assert planned["ir.ipynb"][0] == "re-execute" and "data.csv" in planned["ir.ipynb"][1][0]
    assert "the files of its folder" in planned["ir.ipynb"][1][-1]  # which rule applied
    assert not any("files of its folder" in r for r in planned["python3.ipynb"][1])
    data = build(load_settings(course, workers=4))
    ran = sorted(r.source.stem.name for r in data.results if r.action == "executed")
    assert ran == ["bash", "ir", "python3", "tslab", "xpython"]
    assert "from R 3" in _outputs(out, "ir") and "edited 4" in _outputs(out, "bash")
    assert kernel_processes(private_tmp) == []


def test_a_15_s_cell_completes_in_every_kernel(tmp_path, private_tmp, kernelspecs):
    """Kernels whose heartbeat waits for the cell (IRkernel, tslab) are not taken
    for frozen: the heartbeat rule applies only to kernels that answer while busy."""
    course = _mixed(tmp_path, sleep=15)
    result = build(load_settings(course, workers=4, heartbeat_timeout=5))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    assert all(r.status is Status.BUILT for r in result.results)
    assert kernel_processes(private_tmp) == []


@pytest.mark.parametrize("how", ["kill -9", "Ctrl-C"])
def test_no_kernel_of_any_language_outlives_nbbuild(tmp_path, private_tmp, kernelspecs,
                                                    how):
    course = _mixed(tmp_path, sleep=120)
    proc = subprocess.Popen([sys.executable, "-m", "nbbuild", str(course), "-j", "5"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _running_kernels(private_tmp) < 4:
            time.sleep(0.2)
        # the four spawned kernels (the forked python one has its template's command line)
        assert _running_kernels(private_tmp) == 4, [p.cmdline() for p in
                                                    kernel_processes(private_tmp)]
        time.sleep(3)  # every kernel is busy in its first cell
        proc.send_signal(signal.SIGKILL if how == "kill -9" else signal.SIGINT)
        proc.wait(30)
        deadline = time.monotonic() + 5
        while kernel_processes(private_tmp) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert kernel_processes(private_tmp) == []
    finally:
        proc.kill()
        proc.wait(10)
        for left in kernel_processes(private_tmp):
            left.kill()


def _running_kernels(marker: Path) -> int:
    """Spawned kernels of the build: one per connection file in use."""
    seen = set()
    for proc in kernel_processes(marker):
        try:
            for part in proc.cmdline():
                if part.endswith(".json") and "kernel-" in part:
                    seen.add(part)
        except Exception:
            continue
    return len(seen)


def test_percent_sources_in_other_languages_build_every_format(tmp_path, private_tmp,
                                                                kernelspecs):
    course = tmp_path / "langs"
    course.mkdir()
    (course / "shell.sh").write_text("# %% [markdown]\n# # Shell\n\n# %%\necho from shell\n")
    (course / "types.ts").write_text(
        "// %% [markdown]\n// # Types\n\n// %%\nconst s: string = 'from ts';\nconsole.log(s);\n")
    (course / "stats.r").write_text("# %% [markdown]\n# # Stats\n\n# %%\ncat('from r', 1 + 1)\n")
    (course / "helper.sh").write_text("echo not a notebook\n")  # no cell marker: a course file
    result = build(load_settings(course, workers=3, formats="html,slides,notebook,code"))
    assert result.ok, [str(r.error) for r in result.results if not r.ok]
    out = course / "_build"
    for stem, ext, marker in (("shell", ".sh", "from shell"), ("types", ".ts", "from ts"),
                              ("stats", ".r", "from r 2")):
        for suffix in (".html", ".slides.html", ".ipynb", ext):
            assert (out / f"{stem}{suffix}").is_file(), (stem, suffix)
        assert marker in _outputs(out, stem)
    assert (out / "types.ts").read_text().startswith("// %% [markdown]")
    assert (out / "stats.r").read_text().startswith("# %% [markdown]")
    assert not (out / "stats.py").exists() and not (out / "shell.py").exists()
    kernels = {r.source.stem.name: nbformat.read(out / f"{r.source.stem.name}.ipynb", 4)
               .metadata.kernelspec.name for r in result.results}
    assert kernels == {"shell": "bash", "types": "tslab", "stats": "ir"}
    assert (out / "helper.sh").read_text() == "echo not a notebook\n"

    # A language whose kernel is not installed: a message that says how to choose one.
    (course / "Main.java").write_text("// %%\nSystem.out.println(1);\n")
    result = build(load_settings(course, workers=1))
    [java] = [r for r in result.results if r.source.rel.name == "Main.java"]
    assert java.status is Status.ERRORED
    assert "unknown kernel 'java'" in str(java.error)
    assert '[kernels] java = "KERNEL"' in str(java.error)


def test_a_stopped_kernel_without_busy_heartbeats_is_found_by_its_process_state(
        tmp_path, private_tmp, kernelspecs):
    """tslab does not answer heartbeats while busy, so its process is watched: a
    kernel stopped (SIGSTOP) for heartbeat_timeout seconds is given up."""
    course = tmp_path / "stops"
    course.mkdir()
    _notebook(course / "stops.ipynb", "tslab", "process.kill(process.pid, 'SIGSTOP');")
    result = build(load_settings(course, workers=1, heartbeat_timeout=2, timeout=60))
    [r] = result.results
    assert r.status is Status.ERRORED and "kernel process was stopped" in str(r.error)
    assert kernel_processes(private_tmp) == []
