"""The pipeline: discover -> plan -> read -> execute (pool) -> export -> write -> record.

``build()`` is the one entry point the CLI, tests and benchmark call. It holds the
locks, claims the output folder and runs the steps of this package in order: for
every notebook the store's decisions (jobs.py) say up to date, re-render or execute;
notebooks to execute are taken in execution order (order.py) by one coroutine per
worker (workers.py), each with a pre-started kernel from the session's pool
(session.py); completion.py renders, writes and records each as it finishes.
Results are kept and reported in course order.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from functools import partial
from pathlib import PurePosixPath
from typing import Any

from nbbuild.config import Settings
from nbbuild.course.discover import discover
from nbbuild.errors import (
    BuildInterrupted,
    OutputError,
)
from nbbuild.kernels.pool import KernelPool
from nbbuild.kernels.preload import auto_preload
from nbbuild.model import BuildResult, Course, NotebookResult
from nbbuild.pipeline.completion import (
    copy_course_files,
    finish,
    record_runs,
    render_all,
)
from nbbuild.pipeline.jobs import Job, durations, open_store, plan_all
from nbbuild.pipeline.order import execution_order
from nbbuild.pipeline.schedule import Schedule
from nbbuild.pipeline.selection import part_of
from nbbuild.pipeline.session import (
    ExportThread,
    Session,
    pool_for,
    warm_up_after,
)
from nbbuild.pipeline.tidy import (
    check_links,
    prune_stale,
    record_build,
    save_manifest,
    write_site_pages,
)
from nbbuild.pipeline.workers import (
    worker,
)
from nbbuild.platforms import loop_factory
from nbbuild.render.assets import asset_files, needs_static
from nbbuild.render.layout import has_site, outputs_of
from nbbuild.render.links import LinkMap
from nbbuild.render.output_folder import OutputFolder
from nbbuild.render.render_processes import processes_for
from nbbuild.report.progress import NullReporter, Reporter
from nbbuild.report.resources import ResourceSampler
from nbbuild.site.navigation import SiteFrame
from nbbuild.store.decisions import (
    Action,
    Cache,
)
from nbbuild.store.lock import BuildLock


def build(
    settings: Settings,
    reporter: Reporter | None = None,
    *,
    wait: bool = True,
    force: bool = False,
    use_cache: bool = True,
    retry_failed: bool = False,
    paths: list[PurePosixPath] | None = None,
) -> BuildResult:
    """Build the course described by ``settings``; raise ``BuildInterrupted`` on Ctrl-C.

    Holds the course's build lock throughout: a second build of the same course
    waits (or, with ``wait=False``, raises ``CourseLocked``). ``force`` executes
    every notebook; ``use_cache=False`` neither reads nor writes the store;
    ``retry_failed`` executes notebooks whose unchanged code failed last time.
    ``paths`` (course-relative files or folders) builds only the notebooks there;
    the others built before stay as they are, on the home page and in the store.
    """
    reporter = reporter or NullReporter()
    lock = BuildLock(settings.cache_dir)
    try:
        lock.acquire(wait=wait, on_wait=reporter.warning)
    except KeyboardInterrupt:
        raise BuildInterrupted("interrupted while waiting for another build") from None
    except OSError as exc:
        raise OutputError(f"{lock.path}: cannot take the build lock ({exc.strerror})") from None
    try:
        with claim_output(settings, wait=wait, on_wait=reporter.warning) as folder, \
                asyncio.Runner(loop_factory=loop_factory()) as runner:
            try:
                return runner.run(_build(settings, reporter, force, use_cache, folder,
                                         retry_failed=retry_failed, paths=paths))
            except (KeyboardInterrupt, asyncio.CancelledError):
                raise BuildInterrupted("build interrupted; no partial outputs were left") from None
    finally:
        lock.release()


def claim_output(settings: Settings, *, wait: bool = True, on_wait=None) -> OutputFolder:
    """The output folder, checked, locked and taken for this course (ownership.py)."""
    try:
        return OutputFolder.claim(settings.out, settings.course, overwrite=settings.out_overwrite,
                                  wait=wait, on_wait=on_wait)
    except KeyboardInterrupt:
        raise BuildInterrupted("interrupted while waiting for another build") from None


async def build_in_session(
    settings: Settings,
    reporter: Reporter,
    session: Session,
    folder: OutputFolder,
    *,
    only: set[str] | None = None,
    previous: dict[str, NotebookResult] | None = None,
) -> BuildResult:
    """One build on a session's pool and exporters (watch mode). With ``only``
    (store keys), other notebooks are not looked at: their result is taken from
    ``previous``. Cancelling it discards the kernels it was using; notebooks it
    finished are recorded and their outputs written."""
    return await _build(settings, reporter, False, True, folder, session, only, previous or {})


async def _build(
    settings: Settings, reporter: Reporter, force: bool, use_cache: bool, folder: OutputFolder,
    session: Session | None = None, only: set[str] | None = None,
    previous: dict[str, NotebookResult] | None = None, *, retry_failed: bool = False,
    paths: list[PurePosixPath] | None = None,
) -> BuildResult:
    began = time.perf_counter()
    cpu_began = time.process_time()
    if session is None:
        _cancel_on_sigterm()
    course = _course(settings, reporter)
    if paths is not None:
        course, only, previous = part_of(course, paths, settings, reporter)
    exporter = session.exporter if session is not None else ExportThread(settings)
    exporter.links = LinkMap(settings, course)
    exporter.site = SiteFrame(settings) if has_site(settings) else None
    store = open_store(settings, reporter) if use_cache else None
    # The pool's close, beside the site's work: _run_all puts it here as it starts
    # it, so it is awaited below even when _run_all raises after that.
    closing: list[asyncio.Future[None]] = []
    try:
        cache = Cache(store, settings, force=force, retry_failed=retry_failed,
                      files=course.assets) if store else None
        order = execution_order(course.sources, durations(store, course.sources, reporter))
        kept = _kept(course, only, previous)
        results, pool_stats = await _run_all(
            course, order, settings, folder, exporter, reporter, cache, session, kept, closing)
        ordered = [results[i] for i in range(len(course.sources))]
        index = await write_site_pages(exporter, folder, ordered, reporter)
        if only is None:  # a whole build: what it does not produce is stale
            prune_stale(folder, settings, course, reporter)
        broken, checked = await check_links(exporter, folder, reporter)
        record_runs(store, ordered, reporter)
        result = BuildResult(
            ordered,
            time.perf_counter() - began,
            settings.out,
            index,
            db_seconds=store.seconds if store is not None else 0.0,
            cpu_seconds=time.process_time() - cpu_began,
            broken_links=broken,
            links_checked=checked,
            strict=settings.strict,
            **pool_stats,
        )
        if store is not None:
            record_build(store, settings, result, reporter)
    finally:
        if closing:  # no kernel outlives the build, however it ends
            await _until_closed(closing[0])
        if session is None:
            exporter.close()
        if store is not None:
            store.close()
        save_manifest(folder, reporter)
    reporter.build_finished(result)
    return result


def _course(settings: Settings, reporter: Reporter) -> Course:
    """The course as discovered (what was skipped, said), once the assets its pages
    need are known to be installed: a missing package is a message before any work."""
    if needs_static(settings):
        asset_files()
    course = discover(settings)
    for problem in course.skipped:
        reporter.warning(problem)
    return course


async def _until_closed(closing: asyncio.Future[None]) -> None:
    """Wait for the pool's close even through a Ctrl-C (then raised again after)."""
    cancelled = False
    while not closing.done():
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    closing.result()


def _kept(course: Course, only: set[str] | None,
          previous: dict[str, NotebookResult] | None) -> dict[int, NotebookResult]:
    """Results taken as they are (watch mode): every notebook not in ``only``."""
    if only is None:
        return {}
    known = previous or {}
    return {i: known[s.key] for i, s in enumerate(course.sources)
            if s.key not in only and s.key in known}


async def _run_all(
    course: Course,
    order: list[int],
    settings: Settings,
    folder: OutputFolder,
    exporter: ExportThread,
    reporter: Reporter,
    cache: Cache | None,
    session: Session | None = None,
    kept: dict[int, NotebookResult] | None = None,
    closing: list[asyncio.Future[None]] | None = None,
) -> tuple[dict[int, NotebookResult], dict[str, Any]]:
    """Plan, then execute or re-render what is stale; results by course position,
    and the pool's figures. ``kept`` results are taken as they are. Once every
    notebook is done, the build's own pool closes in the background (stopping the
    last kernels and the template: 0.05-0.15 s) while the site is written; the task
    goes into ``closing`` for the caller to await (leaving here closes it anyway)."""
    kept = kept or {}
    results: dict[int, NotebookResult] = dict(kept)
    async with contextlib.AsyncExitStack() as stack:
        cluster = None
        if settings.cluster:
            from nbbuild.pipeline.cluster import Cluster

            cluster = await stack.enter_async_context(Cluster(settings))
        if session is None:
            pool = await stack.enter_async_context(pool_for(settings, tracking=cache is not None))
        else:
            pool = session.pool
            pool.forget_expected()
            stack.callback(pool.forget_expected)
        if settings.preload == "auto":
            pool.preload_from(partial(auto_preload, [s.path for s in course.sources],
                                      settings.workers))
        sampler = await stack.enter_async_context(ResourceSampler(pool.pids))
        planned = [i for i in order if i not in results]
        to_execute, to_render = await _decide_all(
            course, planned, pool if cluster is None else None, results, cache, settings)
        _say_source_notes(to_execute + to_render, settings, reporter)
        exporter.prepare(settings, _render_processes(settings, to_execute + to_render))
        render_cpu = exporter.processes.cpu_seconds() if exporter.processes else 0.0
        warm = _warm_exporters(exporter, pool, to_execute, to_render, cluster)
        reporter.build_started(len(course.sources), settings.workers)
        for i, result in results.items():
            if i not in kept:
                finish(settings, folder, result, reporter)
        assets = exporter.submit(copy_course_files, settings, folder, course.assets)
        dispatched = time.perf_counter()
        await _execute_and_render(to_execute, to_render, pool, exporter, settings, folder,
                                  reporter, results, cache, dispatched, cluster)
        for problem in pool.problems + exporter.problems:
            reporter.warning(problem)
        exporter.problems.clear()
        pool_stats = _pool_stats(pool, cluster, time.perf_counter() - dispatched)
        if session is None and closing is not None:
            closing.append(asyncio.ensure_future(pool.close()))  # the stack's close: a no-op
        if exporter.processes is not None:
            pool_stats["render_processes"] = exporter.processes.count
            pool_stats["render_cpu_seconds"] = exporter.processes.cpu_seconds() - render_cpu
    for problem in await assets:
        reporter.warning(problem)
    if warm is not None:
        await warm
    return results, {**pool_stats, "resources": sampler.summary()}


def _pool_stats(pool: KernelPool, cluster: Any, span: float) -> dict[str, Any]:
    """The build's kernel figures, taken before the pool closes."""
    return {
        "kernels_started": pool.started + (cluster.kernels_started if cluster else 0),
        "forked": pool.forked,
        "preload": pool.preloaded if pool.forked else (),
        "template_head_start": pool.head_started,
        "pool_startup": pool.startup_seconds,
        "execution_span": span,
    }


def _render_processes(settings: Settings, jobs: list[Job]) -> int:
    """Render processes for this build (render_processes.py): by the setting and
    how many files its notebooks have to render."""
    files = sum(len(job.decision.only) if job.decision.only is not None
                else len(outputs_of(settings, job.loaded.source)) for job in jobs)
    return processes_for(settings.render_processes, files, len(jobs))


async def _decide_all(course: Course, planned: list[int], pool: KernelPool | None,
                      results: dict[int, NotebookResult], cache: Cache | None,
                      settings: Settings) -> tuple[list[Job], list[Job]]:
    """The notebooks to execute and those to re-render (the rest go to ``results``)."""
    to_execute: list[Job] = []
    to_render: list[Job] = []
    async for job in plan_all(course.sources, planned, pool, results, cache, settings):
        (to_execute if job.decision.action is Action.EXECUTE else to_render).append(job)
    return to_execute, to_render


def _say_source_notes(jobs: list[Job], settings: Settings, reporter: Reporter) -> None:
    """Warnings about the sources read (``# j2`` lines), once per file."""
    first = (settings.languages or (None,))[0]
    for job in jobs:
        if job.loaded.source.lang == first:
            for note in job.loaded.notes:
                reporter.warning(note)


def _warm_exporters(exporter: ExportThread, pool: KernelPool, to_execute: list[Job],
                    to_render: list[Job], cluster: Any) -> asyncio.Future | None:
    """Start the exporters' first-use cost (importing nbconvert, compiling templates:
    ~0.5 s of CPU holding the GIL) where it slows nothing else."""
    if exporter.warm:  # a watch session's exporters, after its first build
        return None
    if to_execute and cluster is None:
        # Once the first kernel is up, so it does not slow the first kernels' boot
        # (they are CPU-bound too) nor the loop driving them.
        return asyncio.ensure_future(warm_up_after(pool, exporter))
    if to_render or to_execute:  # no local kernel to wait for
        return exporter.submit(exporter.warm_up)
    return None


async def _execute_and_render(
    to_execute: list[Job], to_render: list[Job], pool: KernelPool, exporter: ExportThread,
    settings: Settings, folder: OutputFolder, reporter: Reporter,
    results: dict[int, NotebookResult], cache: Cache | None, dispatched: float, cluster: Any,
) -> None:
    """The workers on the notebooks to execute, and the re-renders beside them."""
    schedule = Schedule(to_execute)
    finishing: list[asyncio.Future[None]] = []
    workers = [
        worker(schedule, pool, exporter, settings, folder, reporter, results, cache,
               dispatched, finishing, cluster)
        for _ in range(min(settings.workers, schedule.executions))
    ]
    renders = render_all(to_render, exporter, settings, folder, reporter, results, cache)
    try:
        await asyncio.gather(renders, *workers)
    finally:
        # Outputs of executed notebooks are written (or, on Ctrl-C, abandoned
        # before their atomic rename) before the pool closes.
        if finishing:
            await asyncio.gather(*finishing, return_exceptions=True)


def _cancel_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C: cancel the build so every kernel is cleaned up."""
    task = asyncio.current_task()
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # Windows, or not the main thread
