"""The warm pool with real ipykernel kernels."""

import asyncio
import time

import psutil
import pytest

from nbbuild.kernels.kernel import KernelRequest
from nbbuild.kernels.pool import KernelPool

pytestmark = pytest.mark.integration


async def _run(kernel, code: str) -> str:
    """Execute ``code`` on a pooled kernel and return what it printed."""
    chunks = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            chunks.append(msg["content"]["text"])

    await kernel.kc.execute_interactive(code, output_hook=hook, timeout=30)
    return "".join(chunks)


def test_kernel_starts_in_the_requested_folder(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            out = await _run(kernel, "import os; print(os.getcwd())")
            assert out.strip() == str(tmp_path)
            assert kernel.language_info["name"] == "python"
            pool.discard(kernel)

    asyncio.run(main())


def test_expected_kernels_are_started_before_they_are_taken(tmp_path, private_tmp):
    req = KernelRequest("python3", tmp_path)

    async def main():
        async with KernelPool(spares=2) as pool:
            pool.expect([req, req, req])
            assert pool.started == 2  # two spares launched at once, the third waits
            tasks = list(pool._starting[req])
            await asyncio.gather(*tasks)  # both fully ready before anyone asks
            began = time.perf_counter()
            first = await pool.take(req)
            waited = time.perf_counter() - began
            assert waited < first.startup  # handed out ready, not booted on demand
            assert pool.started == 3  # taking one launched the next expected kernel
            second = await pool.take(req)
            third = await pool.take(req)
            pids = {first.pid, second.pid, third.pid}
            assert len(pids) == 3  # one fresh process per notebook
            for k in (first, second, third):
                pool.discard(k)

    asyncio.run(main())


def test_unexpected_request_gets_a_kernel_on_demand(tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1) as pool:
            pool.expect([KernelRequest("python3", tmp_path)])
            other = tmp_path / "other"
            other.mkdir()
            kernel = await pool.take(KernelRequest("python3", other))
            assert (await _run(kernel, "import os; print(os.getcwd())")).strip() == str(other)
            pool.discard(kernel)

    asyncio.run(main())


def test_close_kills_spares_starting_and_in_use_kernels(tmp_path, private_tmp):
    req = KernelRequest("python3", tmp_path)

    async def main():
        pool = KernelPool(spares=2)
        pool.expect([req, req, req])
        in_use = await pool.take(req)
        pids = [in_use.pid]
        await asyncio.sleep(0.3)  # the spares are somewhere in their start-up
        await pool.close()
        await pool.close()  # idempotent
        return pids

    pids = asyncio.run(main())
    assert not any(psutil.pid_exists(p) for p in pids)
    from ..conftest import kernel_processes

    assert kernel_processes(private_tmp) == []


def test_deep_tmpdir_still_gets_working_kernels(tmp_path, monkeypatch):
    import tempfile

    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))

    async def main():
        async with KernelPool(spares=1) as pool:
            assert len(str(pool.runtime_dir)) < len(str(deep))
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            assert (await _run(kernel, "print(6 * 7)")).strip() == "42"
            pid = kernel.pid
            pool.discard(kernel)
        return pid

    pid = asyncio.run(main())
    assert not psutil.pid_exists(pid)
