"""What a build runs on: the kernel pool, and the export thread with its warm
exporters and, for a build with much to render, render processes beside it.
Watch mode keeps one ``Session`` between builds; a single build makes its own and
closes it.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from nbbuild.config import Settings
from nbbuild.course.sources import LoadedNotebook
from nbbuild.kernels.limits import cap_code
from nbbuild.kernels.pool import KernelPool
from nbbuild.kernels.tracking import install_code
from nbbuild.platforms import supports_fork
from nbbuild.render.exporters import Exporters
from nbbuild.render.links import LinkMap
from nbbuild.render.output_folder import OutputFolder
from nbbuild.render.render_processes import (
    RenderProcessDied,
    RenderProcesses,
    when_written,
)
from nbbuild.render.write import RenderContext, Written, render_and_write
from nbbuild.site.navigation import SiteFrame


@dataclass
class Session:
    """What watch mode keeps between builds: the kernel pool (warm spares, kernel
    templates) and the export thread (warm exporters). ``build_in_session`` uses
    them instead of making and closing its own."""

    pool: KernelPool
    exporter: ExportThread

    @classmethod
    def open(cls, settings: Settings) -> Session:
        return cls(pool_for(settings, tracking=True), ExportThread(settings))

    async def close(self) -> None:
        try:
            await self.pool.close()
        finally:
            self.exporter.close()


class ExportThread:
    """One thread owns the warm exporters and renders and writes outputs, and the
    site's pages; render processes, when a build has them, render beside it.

    nbconvert exporters are not meant to be shared between threads; one thread
    keeps them warm and keeps the event loop free to drive kernels meanwhile. A
    notebook goes to a free render process, else to the thread when it is free,
    else waits for the first of them: nothing waits while processes start.
    """

    def __init__(self, settings: Settings) -> None:
        self.exporters = Exporters(settings.formats, reveal_url_prefix=settings.reveal_url_prefix,
                                   assets=settings.assets)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbbuild-export")
        #: Whether the exporters have paid their first-use cost (``warm_up``).
        self.warm = False
        #: This build's lecture links (render/links.py), set by the build.
        self.links: LinkMap | None = None
        #: This build's site frame (site/navigation.py), set by the build; None: no site.
        self.site: SiteFrame | None = None
        #: Render processes (render_processes.py), started by the first build that
        #: wants them and kept for the session.
        self.processes: RenderProcesses | None = None
        self._context: RenderContext | None = None
        self._thread_busy = False
        self._turn: asyncio.Condition | None = None
        #: Why render processes could not start, for the build's warnings.
        self.problems: list[str] = []

    def prepare(self, settings: Settings, processes: int) -> None:
        """Set what this build's renders share; start ``processes`` render processes
        in the background unless the session has them already."""
        self._context = RenderContext(settings, self.links, self.site)
        self._turn = asyncio.Condition()
        if self.processes is None and processes > 0:
            self.processes = RenderProcesses(processes)
            starting = asyncio.get_running_loop().run_in_executor(None, self.processes.start)
            starting.add_done_callback(self._started)
        if self.processes is not None:
            self.processes.share(self._context)

    def _started(self, starting: asyncio.Future) -> None:
        if starting.cancelled() or starting.exception() is not None:
            why = "cancelled" if starting.cancelled() else repr(starting.exception())
            self.problems.append(f"render processes did not start ({why}); "
                                 "rendering on the export thread only")
        asyncio.ensure_future(self._changed())

    async def render(self, loaded: LoadedNotebook, folder: OutputFolder,
                     only: set[str] | None) -> Written:
        """Render and write a notebook's outputs on the first free renderer; the
        files written are recorded in ``folder`` as soon as they exist. The time it
        waited for a renderer is ``detail["wait"]``."""
        began = time.perf_counter()

        def on_written(written: Written) -> None:
            folder.wrote(written.written)

        on_process = await self._take()
        waited = time.perf_counter() - began
        written = None
        try:
            if on_process:
                try:
                    written = await self.processes.render(loaded, only, on_written)
                except RenderProcessDied:
                    pass  # rendered again on the thread, below
            else:
                written = await self._on_thread(loaded, only, on_written)
        finally:
            await self._give_back(on_process)
        if written is None:
            await self._take(thread=True)
            try:
                written = await self._on_thread(loaded, only, on_written)
            finally:
                await self._give_back(False)
        written.detail["wait"] = waited
        return written

    async def _on_thread(self, loaded: LoadedNotebook, only: set[str] | None,
                         on_written) -> Written:
        future = self._pool.submit(render_and_write, self.exporters, self._context, loaded, only)
        future.add_done_callback(partial(when_written, on_written))
        return await asyncio.wrap_future(future)

    def _process_free(self, thread: bool) -> bool:
        return not thread and self.processes is not None and self.processes.free

    async def _take(self, thread: bool = False) -> bool:
        """Wait for a free renderer (only the thread, with ``thread``) and claim
        it: True for a process."""
        async with self._turn:
            await self._turn.wait_for(
                lambda: self._process_free(thread) or not self._thread_busy)
            if self._process_free(thread):
                self.processes.busy += 1
                return True
            self._thread_busy = True
            return False

    async def _give_back(self, on_process: bool) -> None:
        if on_process:
            self.processes.busy -= 1
        else:
            self._thread_busy = False
        await self._changed()

    async def _changed(self) -> None:
        if self._turn is not None:
            async with self._turn:
                self._turn.notify_all()

    def warm_up(self) -> None:
        """Runs on the export thread."""
        self.exporters.warm_up()
        self.warm = True

    def submit(self, fn, *args) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        # Wait for the files being written: a write is never abandoned half way.
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if self.processes is not None:
                self.processes.close()
                self.processes = None


def pool_for(settings: Settings, *, tracking: bool) -> KernelPool:
    return KernelPool(
        spares=_spares(settings),
        startup_timeout=settings.startup_timeout,
        fork=settings.fork_kernels,
        preload=() if settings.preload == "auto" else settings.preload,
        transports=dict(settings.kernel_transport),
        setup_code="\n".join(
            ([install_code(settings.course)] if tracking else [])
            + [cap_code(int(settings.max_output_mb * 2**20), settings.max_outputs)]
        ),
    )


def _spares(settings: Settings) -> int:
    """Kernels to keep starting or ready. A forked kernel costs little CPU but takes
    ~0.15 s from fork to ready, longer than a short notebook runs; twice the workers
    keeps short notebooks from waiting (100 short notebooks at 2 workers: 10.5 s
    with 2 spares, 7.6 s with 4, no better with 6 or 8). A kernel started the usual
    way costs ~0.3 s of CPU: more than ``workers`` at once only slows the first."""
    forking = settings.fork_kernels and supports_fork()
    return settings.workers * 2 if forking else settings.workers


async def warm_up_after(pool: KernelPool, exporter: ExportThread) -> None:
    try:
        await asyncio.wait_for(pool.first_ready(), timeout=2.0)
    except TimeoutError:
        pass
    await exporter.submit(exporter.warm_up)
