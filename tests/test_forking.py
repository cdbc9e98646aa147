"""Forked kernels must be indistinguishable from freshly started ones."""

import asyncio
import json
import sys

import psutil
import pytest

from nbbuild.forking import split_ipykernel_command
from nbbuild.kernels import KernelPool, KernelRequest

from .conftest import kernel_processes

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


def test_a_dead_template_falls_back_to_normal_starts(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1) as pool:
            first = await pool.take(KernelRequest("python3", tmp_path))
            assert first.km.provisioner.forked
            template = next(iter(pool._templates._tasks.values())).result()
            psutil.Process(template._proc.pid).kill()
            await template._proc.wait()
            pool.discard(first)
            second = await pool.take(KernelRequest("python3", tmp_path))
            assert not getattr(second.km.provisioner, "forked", False)
            assert "42" in await _probe(second, "print(6 * 7)")
            pool.discard(second)

    asyncio.run(main())
    assert kernel_processes(private_tmp) == []


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
