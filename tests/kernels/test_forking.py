"""Forked kernels must be indistinguishable from freshly started ones."""

import asyncio
import json
import sys

import psutil
import pytest

from nbbuild.kernels.kernel import KernelRequest
from nbbuild.kernels.pool import KernelPool
from nbbuild.kernels.provisioner import split_ipykernel_command

from ..conftest import kernel_processes

pytestmark = pytest.mark.integration

PROBE = r"""
import json, multiprocessing, os, signal, sys
print(json.dumps({
    "cwd": os.getcwd(),
    "path0": sys.path[0],
    "path": sys.path[1:],
    "argv": [os.path.basename(sys.argv[0])] + sys.argv[1:2],
    "executable": sys.executable,
    "env": os.environ.get("NBBUILD_PROBE"),
    "sigchld": int(signal.getsignal(signal.SIGCHLD)),
    "sigterm": int(signal.getsignal(signal.SIGTERM)),
    "own_session": os.getsid(0) == os.getpid(),
    "stdin": sys.stdin.read() if not sys.stdin.isatty() and sys.stdin.readable() else "",
    "start_method": multiprocessing.get_start_method(),
    "user_modules": sorted(m for m in sys.modules if m in ("numpy", "helpers", "pandas")),
    "subprocess": __import__("subprocess").run(["echo", "ok"], capture_output=True, text=True).stdout,
}))
"""


def test_split_ipykernel_command():
    py = sys.executable
    assert split_ipykernel_command(["python", "-m", "ipykernel_launcher", "-f", "c.json"]) == (
        [py], ["-f", "c.json"])
    assert split_ipykernel_command(["/x/python", "-Xfrozen_modules=off", "-m",
                                    "ipykernel_launcher", "-f", "c"]) == (
        ["/x/python", "-Xfrozen_modules=off"], ["-f", "c"])
    assert split_ipykernel_command(["julia", "-i", "kernel.jl", "c"]) is None
    assert split_ipykernel_command(["python", "-m", "other_kernel", "-f", "c"]) is None


async def _probe(kernel, code=PROBE):
    out = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])

    reply = await kernel.kc.execute_interactive(code, output_hook=hook, timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out)


def _state(fork, folder, env):
    async def main():
        async with KernelPool(spares=1, fork=fork, env=env) as pool:
            kernel = await pool.take(KernelRequest("python3", folder))
            forked = getattr(kernel.km.provisioner, "forked", False)
            state = json.loads(await _probe(kernel))
            pool.discard(kernel)
            return forked, state

    return asyncio.run(main())


def test_forked_kernel_state_matches_a_fresh_kernel(tmp_path, private_tmp):
    import os

    env = {**os.environ, "NBBUILD_PROBE": "from-the-pool"}
    forked, fork_state = _state(True, tmp_path, env)
    started, fresh_state = _state(False, tmp_path, env)
    assert forked is True and started is False
    assert fork_state == fresh_state
    assert fork_state["cwd"] == str(tmp_path)
    assert "" in fork_state["path"]  # IPython's entry for the working directory
    assert fork_state["env"] == "from-the-pool" and fork_state["subprocess"] == "ok\n"
    assert kernel_processes(private_tmp) == []


def test_forked_kernels_get_their_own_random_streams(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=2) as pool:
            values = []
            for _ in range(2):
                kernel = await pool.take(KernelRequest("python3", tmp_path))
                values.append(await _probe(kernel, "import random; print(random.random())"))
                pool.discard(kernel)
            return values

    first, second = asyncio.run(main())
    assert first != second


def _template_pid(pool):
    template = next(t for t in pool._templates._tasks.values()).result()
    return template._proc.pid


def test_a_dead_template_is_started_again(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1) as pool:
            first = await pool.take(KernelRequest("python3", tmp_path))
            assert first.km.provisioner.forked
            old = _template_pid(pool)
            psutil.Process(old).kill()
            pool.discard(first)
            second = await pool.take(KernelRequest("python3", tmp_path))
            assert second.km.provisioner.forked and _template_pid(pool) != old
            assert "42" in await _probe(second, "print(6 * 7)")
            pool.discard(second)

    asyncio.run(main())
    assert kernel_processes(private_tmp) == []


def test_a_template_that_keeps_dying_gives_way_to_normal_starts(tmp_path, private_tmp, monkeypatch):
    from nbbuild.kernels.templates import Templates

    monkeypatch.setattr(Templates, "MAX_RESTARTS", 0)

    async def main():
        async with KernelPool(spares=1) as pool:
            first = await pool.take(KernelRequest("python3", tmp_path))
            psutil.Process(_template_pid(pool)).kill()
            pool.discard(first)
            second = await pool.take(KernelRequest("python3", tmp_path))
            assert not getattr(second.km.provisioner, "forked", False)
            assert "42" in await _probe(second, "print(6 * 7)")
            pool.discard(second)

    asyncio.run(main())
    assert kernel_processes(private_tmp) == []


def test_preload_is_skipped_where_it_would_change_an_import(tmp_path):
    from nbbuild.kernels.templates import preload_for

    preload = ("numpy", "matplotlib.pyplot")
    assert preload_for(preload, tmp_path) == preload
    (tmp_path / "rc").mkdir()
    (tmp_path / "rc" / "matplotlibrc").write_text("lines.linewidth: 3\n")
    assert preload_for(preload, tmp_path / "rc") == ()
    assert preload_for(("numpy",), tmp_path / "rc") == ("numpy",)  # rc only matters to matplotlib
    (tmp_path / "own").mkdir()
    (tmp_path / "own" / "numpy.py").write_text("X = 1\n")
    assert preload_for(preload, tmp_path / "own") == ()
    (tmp_path / "pkg" / "matplotlib").mkdir(parents=True)
    assert preload_for(preload, tmp_path / "pkg") == ()
    assert preload_for((), tmp_path) == ()


def test_preloaded_modules_are_there_unless_the_folder_shadows_them(tmp_path, private_tmp):
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "numpy.py").write_text("LOCAL = True\n")
    code = "import sys\nwas = 'numpy' in sys.modules\nimport numpy\nprint(was, hasattr(numpy, 'LOCAL'))"

    async def main():
        async with KernelPool(spares=1, preload=("numpy",)) as pool:
            seen = []
            for folder in (tmp_path, shadow):
                kernel = await pool.take(KernelRequest("python3", folder))
                assert kernel.km.provisioner.forked
                seen.append((await _probe(kernel, code)).strip())
                pool.discard(kernel)
            return seen

    assert asyncio.run(main()) == ["True False", "False True"]
    assert kernel_processes(private_tmp) == []


def test_a_preload_that_fails_is_reported_and_kernels_fork_without_it(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1, preload=("no_such_module_nbbuild",)) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            assert kernel.km.provisioner.forked
            assert "42" in await _probe(kernel, "print(6 * 7)")
            pool.discard(kernel)
            return pool.problems

    problems = asyncio.run(main())
    assert len(problems) == 1
    assert "cannot preload no_such_module_nbbuild" in problems[0]
    assert "without preload" in problems[0]
    assert kernel_processes(private_tmp) == []


@pytest.mark.parametrize("fork", ["--fork", "--no-fork"])
def test_kernels_end_soon_after_nbbuild_is_killed(tmp_path, private_tmp, fork):
    import os
    import signal
    import subprocess
    import time

    from ..conftest import write_notebook

    course, hold = _held_course(tmp_path, private_tmp)
    write_notebook(course / "quick.ipynb", "print('quick')")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbbuild", "build", str(course), "-j", "2", "-q", fork],
        env={**os.environ, "TMPDIR": str(private_tmp)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(_kernels(private_tmp, proc.pid)) < 2:
        time.sleep(0.1)
    assert len(_kernels(private_tmp, proc.pid)) >= 2, "the kernels never started"
    time.sleep(0.5)  # both in their sleeping cell
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed = time.monotonic()
    while time.monotonic() - killed < 10 and kernel_processes(private_tmp):
        time.sleep(0.1)
    left = kernel_processes(private_tmp)
    for orphan in left:
        orphan.kill()
    assert left == [], f"still running {time.monotonic() - killed:.1f} s after the kill"
    assert time.monotonic() - killed < 5
    # the next build takes the lock the killed one held, and builds everything
    hold.unlink()
    from nbbuild import build, load_settings

    again = build(load_settings(course, workers=2), wait=False)
    assert again.ok
    assert all((course / "_build" / f"{n}.html").is_file() for n in ("quick", "slow0", "slow1"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the launcher is Linux's")
def test_no_kernel_outlives_nbbuild_killed_as_it_starts_a_launcher(tmp_path, private_tmp):
    """The narrowest moment: nbbuild is killed as the launcher it just forked starts
    (before the launcher has tied its life to nbbuild's). Seen in CI: the launcher,
    adopted by a reaper, took the reaper for nbbuild and kept its kernel running."""
    import os
    import signal
    import subprocess
    import time

    course, hold = _held_course(tmp_path, private_tmp)
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbbuild", "build", str(course), "-j", "2", "-q", "--no-fork"],
        env={**os.environ, "TMPDIR": str(private_tmp)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    nbbuild = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    seen = False
    while not seen and time.monotonic() < deadline and proc.poll() is None:
        try:
            seen = any("launcher.py" in " ".join(child.cmdline()) for child in nbbuild.children())
        except psutil.Error:
            pass
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    hold.unlink()
    assert seen, "nbbuild never started a launcher"
    killed = time.monotonic()
    while time.monotonic() - killed < 10 and kernel_processes(private_tmp):
        time.sleep(0.1)
    left = kernel_processes(private_tmp)
    described = []
    for orphan in left:
        try:
            described.append(" ".join(orphan.cmdline()[:5]))
            orphan.kill()
        except psutil.Error:
            pass
    assert left == [], described


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the launcher is Linux's")
def test_a_launcher_whose_nbbuild_is_gone_before_it_starts_runs_no_kernel(tmp_path):
    """nbbuild killed between forking the launcher and the launcher's start: the
    launcher, adopted by a reaper, must not start the kernel it can no longer guard."""
    import os
    import subprocess

    from nbbuild.kernels.provisioner import guarded_command

    started = tmp_path / "started"
    command = guarded_command(["touch", str(started)], str(tmp_path / "log"))
    gone = command.index(str(os.getpid()))
    command[gone] = "1"  # a parent it does not have: as if adopted by init
    done = subprocess.run(command, capture_output=True, timeout=30, check=False)
    assert done.returncode == 1
    assert not started.exists()
    # with its true parent it does start the command
    command[gone] = str(os.getpid())
    assert subprocess.run(command, capture_output=True, timeout=30, check=False).returncode == 0
    assert started.exists()


def _held_course(tmp_path, private_tmp):
    """Two notebooks that run while the returned file exists: (course, that file)."""
    from ..conftest import write_notebook

    hold = private_tmp / "hold"
    hold.write_text("hold")
    course = tmp_path / "course"
    for i in range(2):
        write_notebook(course / f"slow{i}.ipynb",
                       f"import os, time\nwhile os.path.exists({str(hold)!r}):\n    time.sleep(0.1)")
    return course, hold


def _kernels(marker, nbbuild_pid):
    """The kernels (not nbbuild itself, not a template) of the test's nbbuild."""
    found = []
    for p in kernel_processes(marker):
        try:
            template = p.ppid() == nbbuild_pid and "kernel_template" in " ".join(p.cmdline())
            if p.pid != nbbuild_pid and not template:
                found.append(p)
        except psutil.Error:
            continue
    return found


def test_closing_the_pool_ends_the_template_and_its_kernels(tmp_path, private_tmp):
    async def main():
        pool = KernelPool(spares=2)
        pool.expect([KernelRequest("python3", tmp_path)] * 3)
        kernel = await pool.take(KernelRequest("python3", tmp_path))
        assert pool.forked
        pid = kernel.pid
        await asyncio.sleep(0.2)
        await pool.close()
        return pid

    pid = asyncio.run(main())
    assert not psutil.pid_exists(pid)
    assert kernel_processes(private_tmp) == []


def _module_dir(tmp_path, **modules):
    folder = tmp_path / "modules"
    folder.mkdir()
    for name, code in modules.items():
        (folder / f"{name}.py").write_text(code)
    return folder


def test_preload_sees_the_kernelspec_environment(tmp_path, private_tmp, monkeypatch):
    """A kernelspec's own env reaches preloaded imports, as it reaches a kernel's."""
    import os

    modules = _module_dir(tmp_path, probe_mod="import os\nSEEN = os.environ.get('NBBUILD_SPEC')\n")
    spec = tmp_path / "jupyter" / "kernels" / "withenv"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "with env", "language": "python", "env": {"NBBUILD_SPEC": "on"},
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    env = {**os.environ, "PYTHONPATH": str(modules)}
    code = "import sys\nwas = 'probe_mod' in sys.modules\nimport probe_mod\nprint(was, probe_mod.SEEN)"

    async def main():
        async with KernelPool(spares=1, preload=("probe_mod",), env=env) as pool:
            kernel = await pool.take(KernelRequest("withenv", tmp_path))
            assert kernel.km.provisioner.forked
            seen = (await _probe(kernel, code)).strip()
            pool.discard(kernel)
            return seen

    assert asyncio.run(main()) == "True on"
    assert kernel_processes(private_tmp) == []


def test_a_preload_that_starts_a_thread_is_refused(tmp_path, private_tmp):
    import os

    modules = _module_dir(
        tmp_path, spins="import threading, time\n"
                        "threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n")
    env = {**os.environ, "PYTHONPATH": str(modules)}

    async def main():
        async with KernelPool(spares=1, preload=("spins",), env=env) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            assert kernel.km.provisioner.forked  # from a template without the preload
            seen = (await _probe(kernel, "import sys\nprint('spins' in sys.modules)")).strip()
            pool.discard(kernel)
            return seen, pool.problems

    seen, problems = asyncio.run(main())
    assert seen == "False"
    assert len(problems) == 1 and "preloading spins started a thread" in problems[0]
    assert kernel_processes(private_tmp) == []
