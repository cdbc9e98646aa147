"""The pipeline: discover -> plan -> read -> execute (pool) -> export -> write -> record.

``build()`` is the one entry point the CLI, tests and benchmark call. For every
notebook the cache (cache.py) decides: up to date (nothing to do, often without
parsing it), re-render (from the cached execution, no kernel), or execute. Notebooks
to execute are taken in execution order (plan.py) by one coroutine per worker,
each with a pre-started kernel from the pool; one export thread renders every
format and writes it atomically; the store records each notebook as it finishes.
Results are kept and reported in course order.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbbuild.report import budgets
from nbbuild.course import editions
from nbbuild.store.decisions import Action, Cache, Decision, apply_payload, output_caps, payload_of, was_truncated
from nbbuild.config import Settings
from nbbuild.course.discover import discover
from nbbuild.errors import (
    BudgetError,
    BuildInterrupted,
    CellError,
    KernelDiedError,
    NotebookError,
    OutputError,
    UnknownKernelError,
)
from nbbuild.kernels.execute import ExecuteOptions, Execution, execute_notebook, tracked_files
from nbbuild.render.exporters import Exporters
from nbbuild.kernels.pool import Kernel, KernelPool, KernelRequest, KernelStartError, supports_fork
from nbbuild.render.layout import asset_roots, outputs_of, split_key
from nbbuild.kernels.limits import cap_code
from nbbuild.store.lock import BuildLock
from nbbuild.model import BuildResult, Course, NotebookResult, Source, Status
from nbbuild.render.outputs import copy_assets, write_atomic, write_index
from nbbuild.render.output_folder import OutputFolder
from nbbuild.build.order import execution_order
from nbbuild.platforms import loop_factory
from nbbuild.report.progress import NullReporter, Reporter
from nbbuild.report.resources import ResourceSampler
from nbbuild.course.sources import LoadedNotebook
from nbbuild.store.database import NotebookRecord, Store, StoreError
from nbbuild.kernels.tracking import install_code


def build(
    settings: Settings,
    reporter: Reporter | None = None,
    *,
    wait: bool = True,
    force: bool = False,
    use_cache: bool = True,
) -> BuildResult:
    """Build the course described by ``settings``; raise ``BuildInterrupted`` on Ctrl-C.

    Holds the course's build lock throughout: a second build of the same course
    waits (or, with ``wait=False``, raises ``CourseLocked``). ``force`` executes
    every notebook; ``use_cache=False`` neither reads nor writes the store.
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
                return runner.run(_build(settings, reporter, force, use_cache, folder))
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


@dataclass
class _Job:
    """A notebook to execute or to re-render, with what the cache decided."""

    index: int
    loaded: LoadedNotebook
    decision: Decision
    exec_parts: dict[str, Any] = field(default_factory=dict)
    exec_key: str = ""
    #: Computed from the source notebook, before execution adds outputs to it.
    export_parts: dict[str, Any] = field(default_factory=dict)
    #: Seconds spent reading and parsing the source.
    read_seconds: float = 0.0
    #: The source's (mtime_ns, size) taken before it was read, and the digest of
    #: the bytes parsed: what the record claims was built. (Taken after the build,
    #: an edit saved during it would be recorded as built.)
    source_stat: tuple[int, int, str] | None = None


@dataclass
class Session:
    """What watch mode keeps between builds: the kernel pool (warm spares, kernel
    templates) and the export thread (warm exporters). ``build_in_session`` uses
    them instead of making and closing its own."""

    pool: KernelPool
    exporter: _ExportThread

    @classmethod
    def open(cls, settings: Settings) -> Session:
        return cls(_pool_for(settings, tracking=True), _ExportThread(settings))

    async def close(self) -> None:
        try:
            await self.pool.close()
        finally:
            self.exporter.close()


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
    previous: dict[str, NotebookResult] | None = None,
) -> BuildResult:
    began = time.perf_counter()
    cpu_began = time.process_time()
    if session is None:
        _cancel_on_sigterm()
    course = discover(settings)
    for problem in course.skipped:
        reporter.warning(problem)
    exporter = session.exporter if session is not None else _ExportThread(settings)
    store = _open_store(settings, reporter) if use_cache else None
    try:
        cache = Cache(store, settings, force=force, files=course.assets) if store else None
        order = execution_order(course.sources, _durations(store, course.sources, reporter))
        kept = {}
        if only is not None:
            known = previous or {}
            kept = {i: known[s.key] for i, s in enumerate(course.sources)
                    if s.key not in only and s.key in known}
        results, pool_stats = await _run_all(
            course, order, settings, folder, exporter, reporter, cache, session, kept)
        ordered = [results[i] for i in range(len(course.sources))]
        index = None
        if "html" in settings.formats:
            index = await exporter.submit(
                write_index, settings.out, _course_title(settings), ordered
            )
            folder.wrote([index])
        _record_runs(store, ordered, reporter)
        result = BuildResult(
            ordered,
            time.perf_counter() - began,
            settings.out,
            index,
            db_seconds=store.seconds if store is not None else 0.0,
            cpu_seconds=time.process_time() - cpu_began,
            **pool_stats,
        )
        if store is not None:
            _record_build(store, settings, result, reporter)
    finally:
        if session is None:
            exporter.close()
        if store is not None:
            store.close()
        _save_manifest(folder, reporter)
    reporter.build_finished(result)
    return result


def _record_build(store: Store, settings: Settings, result: BuildResult, reporter: Reporter) -> None:
    """Keep the build's figures, and warn when it was much slower than usual."""
    from nbbuild.report.json_report import build_report
    from nbbuild.report.trend import comparable_key, slower_than_usual

    report = build_report(result, course=settings.course, workers=settings.workers)
    key = comparable_key(report, settings.formats)
    try:
        warning = slower_than_usual(store, key, report)
        store.record_build(key, report)
    except (sqlite3.Error, StoreError) as exc:
        reporter.warning(f"{store.path}: build figures not saved ({exc})")
        return
    result.report = report
    if warning:
        reporter.warning(warning)


def _save_manifest(folder: OutputFolder, reporter: Reporter) -> None:
    try:
        folder.save()
    except OSError as exc:
        reporter.warning(f"{folder.out}: list of written files not saved ({exc.strerror})")


def _pool_for(settings: Settings, *, tracking: bool) -> KernelPool:
    return KernelPool(
        spares=_spares(settings),
        startup_timeout=settings.startup_timeout,
        fork=settings.fork_kernels,
        preload=settings.preload,
        setup_code="\n".join(
            ([install_code(settings.course)] if tracking else [])
            + [cap_code(int(settings.max_output_mb * 2**20), settings.max_outputs)]
        ),
    )


async def _run_all(
    course: Course,
    order: list[int],
    settings: Settings,
    folder: OutputFolder,
    exporter: _ExportThread,
    reporter: Reporter,
    cache: Cache | None,
    session: Session | None = None,
    kept: dict[int, NotebookResult] | None = None,
) -> tuple[dict[int, NotebookResult], dict[str, Any]]:
    """Plan, then execute or re-render what is stale; results by course position,
    and the pool's figures. ``kept`` results are taken as they are."""
    kept = kept or {}
    results: dict[int, NotebookResult] = dict(kept)
    warm = None
    async with contextlib.AsyncExitStack() as stack:
        cluster = None
        if settings.cluster:
            from nbbuild.build.cluster import Cluster

            cluster = await stack.enter_async_context(Cluster(settings))
        if session is None:
            pool = await stack.enter_async_context(_pool_for(settings, tracking=cache is not None))
        else:
            pool = session.pool
            pool.forget_expected()
            stack.callback(pool.forget_expected)
        sampler = await stack.enter_async_context(ResourceSampler(pool.pids))
        to_execute: list[_Job] = []
        to_render: list[_Job] = []
        planned = [i for i in order if i not in results]
        async for job in _plan_all(course.sources, planned, pool if cluster is None else None,
                                   results, cache, settings):
            (to_execute if job.decision.action is Action.EXECUTE else to_render).append(job)
        if exporter.warm:  # a watch session's exporters, after its first build
            pass
        elif to_execute and cluster is None:
            # Importing nbconvert and compiling templates takes ~0.5 s of CPU and holds
            # the GIL: start once the first kernel is up, so it does not slow the
            # first kernels' boot (they are CPU-bound too) nor the loop driving them.
            warm = asyncio.ensure_future(_warm_up_after(pool, exporter))
        elif to_render or to_execute:  # no local kernel to wait for
            warm = exporter.submit(exporter.warm_up)
        reporter.build_started(len(course.sources), settings.workers)
        for i, result in results.items():
            if i not in kept:
                _finish(settings, folder, result, reporter)
        assets = exporter.submit(_copy_assets, settings, folder, course.assets)
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for job in to_execute:
            queue.put_nowait(job)
        dispatched = time.perf_counter()
        finishing: list[asyncio.Future[None]] = []
        workers = [
            _worker(queue, pool, exporter, settings, folder, reporter, results, cache,
                    dispatched, finishing, cluster)
            for _ in range(min(settings.workers, len(to_execute)))
        ]
        renders = _render_all(to_render, exporter, settings, folder, reporter, results, cache)
        try:
            await asyncio.gather(renders, *workers)
        finally:
            # Outputs of executed notebooks are written (or, on Ctrl-C, abandoned
            # before their atomic rename) before the pool closes.
            if finishing:
                await asyncio.gather(*finishing, return_exceptions=True)
        for problem in pool.problems:
            reporter.warning(problem)
        pool_stats = {
            "kernels_started": pool.started + (cluster.kernels_started if cluster else 0),
            "forked": pool.forked,
            "preload": pool.preload if pool.forked else (),
            "resources": sampler,
            "pool_startup": pool.startup_seconds,
            "execution_span": time.perf_counter() - dispatched,
        }
    for problem in await assets:
        reporter.warning(problem)
    if warm is not None:
        await warm
    pool_stats["resources"] = pool_stats["resources"].summary()
    return results, pool_stats


def _spares(settings: Settings) -> int:
    """Kernels to keep starting or ready. A forked kernel costs little CPU but takes
    ~0.15 s from fork to ready, longer than a short notebook runs; twice the workers
    keeps short notebooks from waiting (100 short notebooks at 2 workers: 10.5 s
    with 2 spares, 7.6 s with 4, no better with 6 or 8). A kernel started the usual
    way costs ~0.3 s of CPU: more than ``workers`` at once only slows the first."""
    forking = settings.fork_kernels and supports_fork()
    return settings.workers * 2 if forking else settings.workers


async def _warm_up_after(pool: KernelPool, exporter: _ExportThread) -> None:
    try:
        await asyncio.wait_for(pool.first_ready(), timeout=2.0)
    except TimeoutError:
        pass
    await exporter.submit(exporter.warm_up)


def _cancel_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C: cancel the build so every kernel is cleaned up."""
    task = asyncio.current_task()
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # Windows, or not the main thread


def _open_store(settings: Settings, reporter: Reporter) -> Store | None:
    """The course's store, or None (with a warning) when it cannot be used."""
    try:
        return Store(settings.cache_dir)
    except StoreError as exc:
        reporter.warning(f"{exc}; building without the cache")
        return None


def _durations(store: Store | None, sources, reporter: Reporter) -> dict[str, float]:
    if store is None:
        return {}
    try:
        return store.durations(s.key for s in sources)
    except (sqlite3.Error, StoreError) as exc:
        reporter.warning(f"{store.path}: run times unreadable ({exc})")
        return {}


def _record_runs(store: Store | None, results: list[NotebookResult], reporter: Reporter) -> None:
    """Keep how long each executed notebook took, for the next build's order."""
    if store is None:
        return
    runs = {
        r.source.key: (r.stages["execute"] + r.stages.get("export", 0.0), r.status.value)
        for r in results
        if "execute" in r.stages
    }
    try:
        store.record_runs(runs)
    except (sqlite3.Error, StoreError) as exc:
        reporter.warning(f"{store.path}: run times not saved ({exc})")


async def _plan_all(
    sources, order: list[int], pool: KernelPool, results: dict[int, NotebookResult], cache,
    settings: Settings,
) -> AsyncIterator[_Job]:
    """Decide for every source before any notebook runs; yield what must be done.

    Up-to-date notebooks go straight into ``results`` (most without being parsed);
    so do unreadable ones (ERRORED). Each notebook to execute is announced to the
    pool as soon as it is decided, so the first kernels boot while the rest of the
    course is still being planned.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    installed = None
    for i in order:
        source = sources[i]
        quick = cache.quick(source) if cache is not None else None
        if quick is not None:
            results[i] = _up_to_date(source, quick.record, cache.settings)
            continue
        if installed is None:
            installed = sorted(KernelSpecManager().find_kernel_specs())
        read_began = time.perf_counter()
        try:
            before = source.path.stat()
        except OSError:
            before = None  # gone: reading it says so
        try:
            loaded = editions.read(source, settings)
            if loaded.kernel_name not in installed:
                raise UnknownKernelError(
                    str(source.rel),
                    f"unknown kernel {loaded.kernel_name!r}; installed kernels: "
                    + (", ".join(installed) or "none"),
                )
        except NotebookError as exc:
            results[i] = NotebookResult(source, Status.ERRORED, error=exc)
            continue
        read = time.perf_counter() - read_began
        if cache is None:
            job = _Job(i, loaded, Decision(Action.EXECUTE, ["cache not used"]))
        else:
            decision, parts, key = cache.decide(loaded)
            if decision.action is Action.SKIP:
                results[i] = _up_to_date(source, decision.record, cache.settings)
                continue
            job = _Job(i, loaded, decision, parts, key, decision.export_parts)
        job.read_seconds = read
        if before is not None:
            job.source_stat = (before.st_mtime_ns, before.st_size, loaded.digest)
        if job.decision.action is Action.EXECUTE and pool is not None:
            pool.expect([_request(loaded)])
            await asyncio.sleep(0)  # let the pool launch that kernel now
        yield job


def _up_to_date(source: Source, record: NotebookRecord, settings: Settings) -> NotebookResult:
    outputs = {key: settings.out / record.outputs[key] for key in outputs_of(settings, source)}
    return NotebookResult(
        source, Status.BUILT, outputs=outputs, title=record.title, action="up to date"
    )


def _request(loaded: LoadedNotebook) -> KernelRequest:
    return KernelRequest(loaded.kernel_name, loaded.source.path.parent)


async def _worker(
    queue, pool, exporter, settings, folder, reporter, results, cache, dispatched, finishing,
    cluster=None,
) -> None:
    """Take notebooks until none are left. A worker is held while its notebook waits
    for a kernel and executes; collecting what it read, exporting and recording go
    on in ``finishing`` while the worker's next notebook already runs."""
    task = asyncio.current_task()
    while not queue.empty():
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        job = queue.get_nowait()
        queued = time.perf_counter() - dispatched
        if cluster is None:
            result, execution = await _execute_one(job, pool, settings, reporter)
        else:
            result, execution = await _execute_on_cluster(job, cluster, settings, reporter)
        result.queued = queued
        finishing.append(asyncio.ensure_future(
            _complete(job, result, execution, pool, exporter, settings, folder, reporter, results,
                      cache)
        ))


async def _render_all(jobs, exporter, settings, folder, reporter, results, cache) -> None:
    """Re-render notebooks from their cached executions: no kernel involved."""
    for job in jobs:
        loaded = job.loaded
        result = NotebookResult(
            loaded.source, Status.BUILT, title=loaded.title, action="rendered",
            reasons=job.decision.reasons,
        )
        reporter.notebook_started(loaded.source)
        result.stages["read"] = job.read_seconds
        began = time.perf_counter()
        try:
            apply_payload(loaded.nb, job.decision.payload)
            await _write_outputs(exporter, loaded, settings, folder, result, job.decision.only)
            result.stages["export"] = time.perf_counter() - began
            _record(cache, job, result, reporter)
        except NotebookError as exc:
            result.status, result.error = Status.ERRORED, exc
        result.seconds = time.perf_counter() - began
        results[job.index] = result
        _finish(settings, folder, result, reporter)


async def _execute_one(
    job: _Job, pool: KernelPool, settings: Settings, reporter: Reporter
) -> tuple[NotebookResult, tuple[Kernel, Execution] | None]:
    """Wait for a kernel and execute. Returns the kernel (still to be discarded) and
    the execution, or None with the error in the result (the kernel discarded)."""
    loaded = job.loaded
    source = loaded.source
    result = _started(job, reporter)
    options = _options(settings, source)
    kernel = None
    try:
        try:
            kernel = await pool.take(_request(loaded))
        except (KernelStartError, RuntimeError, OSError) as exc:
            raise _kernel_start_failed(loaded, exc) from None
        ready = time.perf_counter()
        result.stages["kernel_wait"] = ready - result.started
        result.kernel_startup = kernel.startup
        try:
            execution = await execute_notebook(loaded, kernel, options)
            result.cells = {
                loaded.cell_number(i) - 1: seconds for i, seconds in execution.cell_seconds.items()
            }
        finally:
            result.stages["execute"] = time.perf_counter() - ready
        note = budgets.check(
            budgets.budget_for(loaded, settings), result.stages["execute"], str(source.rel)
        )
        if note:
            reporter.warning(note)
        return result, (kernel, execution)
    except NotebookError as exc:
        failed = isinstance(exc, (CellError, BudgetError))
        result.status = Status.FAILED if failed else Status.ERRORED
        result.error = exc
    except Exception as exc:  # a bug or an unforeseen failure costs one notebook only
        result.status = Status.ERRORED
        result.error = NotebookError(str(source.rel), f"internal error: {exc!r}")
    except asyncio.CancelledError:
        if kernel is not None:  # superseded (watch mode) or interrupted: never reused
            pool.discard(kernel)
        raise
    finally:
        if kernel is not None and result.error is not None:
            pool.discard(kernel)
            result.kernel_cpu = kernel.cpu_seconds
    return result, None


def _started(job: _Job, reporter: Reporter) -> NotebookResult:
    """The result of a notebook a worker has just taken, its start reported."""
    loaded = job.loaded
    result = NotebookResult(loaded.source, Status.BUILT, title=loaded.title,
                            reasons=job.decision.reasons)
    reporter.notebook_started(loaded.source)
    result.stages["read"] = job.read_seconds
    result.started = time.perf_counter()
    return result


def _options(settings: Settings, source: Source) -> ExecuteOptions:
    return ExecuteOptions(
        timeout=settings.timeout,
        allow_errors=settings.allows_errors(source.rel),
        notebook_timeout=settings.notebook_timeout,
        heartbeat_timeout=settings.heartbeat_timeout,
        max_output_bytes=int(settings.max_output_mb * 2**20),
        max_outputs=settings.max_outputs,
        kernel_memory_bytes=int((settings.kernel_memory_mb or 0) * 2**20),
    )


async def _execute_on_cluster(
    job: _Job, cluster: Any, settings: Settings, reporter: Reporter
) -> tuple[NotebookResult, tuple[None, Execution] | None]:
    """``_execute_one`` on a Dask worker (cluster.py): the same result, errors and
    timings, and the worker it ran on."""
    loaded = job.loaded
    source = loaded.source
    result = _started(job, reporter)
    try:
        execution, info = await cluster.execute(loaded, _options(settings, source))
    except NotebookError as exc:
        result.status = Status.FAILED if isinstance(exc, CellError) else Status.ERRORED
        result.error = exc
        return result, None
    except Exception as exc:  # a bug, or the cluster failing: one notebook only
        result.status = Status.ERRORED
        result.error = NotebookError(str(source.rel), f"cluster error: {exc!r}")
        return result, None
    total = time.perf_counter() - result.started
    result.stages["kernel_wait"] = info.get("kernel_wait", 0.0)
    result.stages["execute"] = max(0.0, total - result.stages["kernel_wait"])
    result.kernel_startup = info.get("kernel_startup", 0.0)
    result.kernel_cpu = info.get("kernel_cpu")
    result.worker = info["worker"]
    result.cells = {loaded.cell_number(i) - 1: t for i, t in execution.cell_seconds.items()}
    if info["retried"]:
        note = f"retried on {info['worker']} after {', '.join(info['retried'])} was lost"
        result.reasons = [*result.reasons, note]
        reporter.warning(f"{source}: {note}")
    return result, (None, execution)


async def _complete(
    job: _Job, result: NotebookResult, executed: tuple[Kernel, Execution] | None,
    pool: KernelPool, exporter: _ExportThread, settings: Settings, folder: OutputFolder,
    reporter: Reporter, results: dict[int, NotebookResult], cache: Cache | None,
) -> None:
    """Collect what an executed notebook read, export and record it (or record its
    failure), then report it."""
    loaded = job.loaded
    try:
        if executed is not None:
            kernel, execution = executed
            began = time.perf_counter()
            if kernel is not None:  # else it ran on a cluster, which said what it read
                try:
                    if cache is not None:
                        execution.reads, execution.writes = await tracked_files(
                            kernel, settings.course
                        )
                finally:
                    pool.discard(kernel)
                    result.kernel_cpu = kernel.cpu_seconds
            await _write_outputs(exporter, loaded, settings, folder, result, job.decision.only)
            result.stages["export"] = time.perf_counter() - began
            if cache is not None:
                reads = (execution.reads - execution.writes) | cache.declared_files(loaded.source)
                execution_record = (payload_of(loaded.nb), cache.fingerprints(reads))
                _record(cache, job, result, reporter, execution_record)
        else:
            _record(cache, job, result, reporter)
    except NotebookError as exc:
        result.status, result.error = Status.ERRORED, exc
        _record(cache, job, result, reporter)
    except Exception as exc:  # a bug or an unforeseen failure costs one notebook only
        result.status = Status.ERRORED
        result.error = NotebookError(str(loaded.source.rel), f"internal error: {exc!r}")
    result.seconds = time.perf_counter() - result.started
    results[job.index] = result
    _finish(settings, folder, result, reporter)


async def _write_outputs(
    exporter, loaded: LoadedNotebook, settings: Settings, folder: OutputFolder,
    result: NotebookResult, only: set[str] | None = None,
) -> None:
    try:
        result.outputs, result.export_detail = await exporter.submit(
            _export_and_write, exporter, loaded, settings, folder, only
        )
    except OSError as exc:
        raise NotebookError(
            str(loaded.source.rel), f"outputs not written: {exc.strerror} ({exc.filename})"
        ) from None


def _record(
    cache: Cache | None, job: _Job, result: NotebookResult, reporter: Reporter, execution=None
) -> None:
    """Record a notebook's build in the store, after its outputs exist (or failed).

    A failed notebook is recorded as failed, so the next build runs it again; its
    execution is never stored. A record that cannot be written is a warning: the
    next build then simply does the work again.
    """
    if cache is None or not job.exec_key:
        return
    source = job.loaded.source
    if job.source_stat is None:
        return
    mtime_ns, size, src_digest = job.source_stat
    exec_parts = job.exec_parts
    if was_truncated(execution[0] if execution else job.decision.payload):
        exec_parts = {**exec_parts, "truncated_at": output_caps(cache.settings)}
    record = NotebookRecord(
        source=source.key,
        src_mtime_ns=mtime_ns,
        src_size=size,
        src_digest=src_digest,
        title=job.loaded.title,
        exec_parts=exec_parts,
        exec_key=job.exec_key,
        export_parts=job.export_parts,
        outputs={f: p.relative_to(cache.settings.out).as_posix() for f, p in result.outputs.items()},
        status=result.status.value,
    )
    before = cache.store.seconds
    told = cache.store.gone
    try:
        cache.store.record_notebook(record, execution if result.ok else None)
    except StoreError as exc:
        if not told:  # once per build
            reporter.warning(str(exc))
    except sqlite3.Error as exc:
        reporter.warning(f"{source.rel}: not recorded in the cache ({exc})")
    result.stages["db"] = cache.store.seconds - before


def _kernel_start_failed(loaded: LoadedNotebook, exc: Exception) -> NotebookError:
    message = f"kernel {loaded.kernel_name!r} did not start: {exc}"
    log = getattr(exc, "log", "")
    if log:
        message += "\n" + "\n".join(log.splitlines()[-8:])
    return KernelDiedError(str(loaded.source.rel), message)


def _export_and_write(
    exporter: _ExportThread, loaded: LoadedNotebook, settings: Settings, folder: OutputFolder,
    only: set[str] | None = None,
) -> tuple[dict[str, Path], dict[str, float]]:
    """Runs on the export thread: render the outputs (``only`` those keys, the others
    being up to date), then write each atomically.

    Returns every output of the notebook and the seconds per ``render:FORMAT``
    (summed over editions) and ``write``.
    """
    paths = outputs_of(settings, loaded.source)
    wanted = [key for key in paths if only is None or key in only]
    detail: dict[str, float] = {}
    rendered = {}
    if settings.variants:
        merged = editions.merged(loaded)
        notebooks = {}
        for key in wanted:
            edition, fmt = split_key(key)
            if edition not in notebooks:
                notebooks[edition] = editions.edition(merged, edition)
            head = editions.NOTES_CSS if edition == "speaker" else ""
            began = time.perf_counter()
            rendered[key] = exporter.exporters.render_one(
                fmt, notebooks[edition], title=loaded.title, head=head)
            detail[f"render:{fmt}"] = detail.get(f"render:{fmt}", 0.0) + time.perf_counter() - began
    else:
        for fmt in wanted:
            began = time.perf_counter()
            rendered[fmt] = exporter.exporters.render_one(fmt, loaded.nb, title=loaded.title)
            detail[f"render:{fmt}"] = time.perf_counter() - began
    began = time.perf_counter()
    for key, data in rendered.items():
        write_atomic(settings.out / paths[key], data)
        folder.wrote([paths[key]])
    detail["write"] = time.perf_counter() - began
    return {key: settings.out / path for key, path in paths.items()}, detail


def _copy_assets(settings: Settings, folder: OutputFolder, assets: tuple) -> list[str]:
    """The course's other files beside the notebooks, in every folder that mirrors
    the course (one per language, edition and format in a course with editions).
    Returns a message per file that could not be copied."""
    problems = []
    for root in asset_roots(settings):
        present, trouble = copy_assets(settings.course, settings.out / root, assets)
        folder.wrote(root / rel for rel in present)
        problems += trouble
    return problems


def _finish(
    settings: Settings, folder: OutputFolder, result: NotebookResult, reporter: Reporter
) -> None:
    if not result.ok:
        try:
            folder.remove(outputs_of(settings, result.source).values())
        except OSError as exc:
            reporter.warning(f"old outputs of {result.source.rel} not removed: {exc}")
    reporter.notebook_finished(result)


def _course_title(settings: Settings) -> str:
    if settings.title:
        return settings.title
    return settings.course.name.replace("-", " ").replace("_", " ").strip() or "Course"


class _ExportThread:
    """One thread owns the warm exporters and renders and writes every output.

    nbconvert exporters are not meant to be shared between threads; one thread
    keeps them warm and keeps the event loop free to drive kernels meanwhile.
    """

    def __init__(self, settings: Settings) -> None:
        self.exporters = Exporters(settings.formats, reveal_url_prefix=settings.reveal_url_prefix)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nbbuild-export")
        #: Whether the exporters have paid their first-use cost (``warm_up``).
        self.warm = False

    def warm_up(self) -> None:
        """Runs on the export thread."""
        self.exporters.warm_up()
        self.warm = True

    def submit(self, fn, *args) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        # Wait for the file being written: a write is never abandoned half way.
        self._pool.shutdown(wait=True, cancel_futures=True)


