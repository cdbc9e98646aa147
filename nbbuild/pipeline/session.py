"""What a build runs on: the kernel pool and the export thread with its warm
exporters. Watch mode keeps one ``Session`` between builds; a single build makes
its own and closes it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from nbbuild.config import Settings
from nbbuild.kernels.limits import cap_code
from nbbuild.kernels.pool import (
    KernelPool,
    supports_fork,
)
from nbbuild.kernels.tracking import install_code
from nbbuild.render.exporters import Exporters
from nbbuild.render.links import LinkMap
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
    """One thread owns the warm exporters and renders and writes every output.

    nbconvert exporters are not meant to be shared between threads; one thread
    keeps them warm and keeps the event loop free to drive kernels meanwhile.
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

    def warm_up(self) -> None:
        """Runs on the export thread."""
        self.exporters.warm_up()
        self.warm = True

    def submit(self, fn, *args) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        # Wait for the file being written: a write is never abandoned half way.
        self._pool.shutdown(wait=True, cancel_futures=True)


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
