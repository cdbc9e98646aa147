"""CPU and memory of nbbuild and all its kernels, sampled while a build runs.

A daemon thread samples every ``interval`` seconds with psutil: resident memory
(RSS) and, where the platform offers it, proportional memory (PSS, which shares
pages between forked kernels fairly), summed over the kernels alive at that
moment, and each kernel's CPU time as last seen. It reports peaks and totals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

import psutil


class ResourceSampler:
    """Start, stop, then read ``summary()``; a context manager."""

    def __init__(self, pids: Callable[[], Iterable[int]], interval: float = 0.2) -> None:
        self._pids = pids
        self.interval = interval
        self.samples = 0
        self.peak = {"nbbuild_rss": 0, "nbbuild_pss": 0, "kernels_rss": 0, "kernels_pss": 0}
        self._kernel_cpu: dict[int, float] = {}
        self._pss = True
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nbbuild-resources", daemon=True)
        self._self = psutil.Process()

    def __enter__(self) -> ResourceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()  # one last look

    async def __aenter__(self) -> ResourceSampler:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)  # the thread wakes at once from its wait: no blocking

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        self.samples += 1
        rss, pss = self._memory(self._self)
        self._peak("nbbuild", rss, pss)
        total_rss = total_pss = 0
        for pid in list(self._pids()):
            try:
                proc = psutil.Process(pid)
                cpu = proc.cpu_times()
                self._kernel_cpu[pid] = cpu.user + cpu.system
                rss, pss = self._memory(proc)
            except psutil.Error:
                continue
            total_rss += rss
            total_pss += pss
        self._peak("kernels", total_rss, total_pss)

    def _memory(self, proc: psutil.Process) -> tuple[int, int]:
        if self._pss:
            try:
                info = proc.memory_full_info()
                return info.rss, getattr(info, "pss", 0)
            except (psutil.AccessDenied, AttributeError, NotImplementedError):
                self._pss = False
        return proc.memory_info().rss, 0

    def _peak(self, who: str, rss: int, pss: int) -> None:
        self.peak[f"{who}_rss"] = max(self.peak[f"{who}_rss"], rss)
        self.peak[f"{who}_pss"] = max(self.peak[f"{who}_pss"], pss)

    def summary(self) -> dict[str, Any]:
        return {
            "interval_seconds": self.interval,
            "samples": self.samples,
            "pss_available": self._pss,
            "peak_bytes": dict(self.peak),
            "kernel_cpu_seconds": sum(self._kernel_cpu.values()),
            "kernels_seen": len(self._kernel_cpu),
        }
