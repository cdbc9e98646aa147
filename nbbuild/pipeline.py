"""The pipeline: discover -> plan -> read -> execute (pool) -> export -> write -> record.

``build()`` is the one entry point the CLI, tests and benchmark call. It runs an
asyncio loop in which one coroutine per worker takes notebooks in execution order
(see plan.py), gets a pre-started kernel from the pool, executes the notebook once
and hands it to a single export thread that renders every format and writes it
atomically. Results are kept and reported in course order.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .config import Settings
from .discover import discover
from .errors import (
    BuildInterrupted,
    CellError,
    KernelDiedError,
    NotebookError,
    OutputError,
    UnknownKernelError,
)
from .execute import ExecuteOptions, execute_notebook
from .export import Exporters
from .globs import matches_any
from .kernels import KernelPool, KernelRequest, KernelStartError
from .layout import output_paths
from .lock import BuildLock
from .model import BuildResult, Course, NotebookResult, Status
from .outputs import copy_assets, prepare, remove_outputs, write_atomic, write_index
from .plan import execution_order
from .platforms import loop_factory
from .progress import NullReporter, Reporter
from .sources import LoadedNotebook, load
from .store import Store, StoreError


def build(
    settings: Settings, reporter: Reporter | None = None, *, wait: bool = True
) -> BuildResult:
    """Build the course described by ``settings``; raise ``BuildInterrupted`` on Ctrl-C.

    Holds the course's build lock throughout: a second build of the same course
    waits (or, with ``wait=False``, raises ``CourseLocked``).
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
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            try:
                return runner.run(_build(settings, reporter))
            except (KeyboardInterrupt, asyncio.CancelledError):
                raise BuildInterrupted("build interrupted; no partial outputs were left") from None
    finally:
        lock.release()


async def _build(settings: Settings, reporter: Reporter) -> BuildResult:
    began = time.perf_counter()
    _cancel_on_sigterm()
    course = discover(settings)
    _prepare_output(settings)
    exporter = _ExportThread(settings)
    history = _open_history(settings, reporter)
    try:
        order = execution_order(course.sources, _durations(history, course.sources, reporter))
        results = await _run_all(course, order, settings, exporter, reporter)
        ordered = [results[i] for i in range(len(course.sources))]
        index = None
        if "html" in settings.formats:
            index = await exporter.submit(
                write_index, settings.out, _course_title(settings), ordered
            )
        _record_runs(history, ordered, reporter)
    finally:
        exporter.close()
        if history is not None:
            history.close()
    result = BuildResult(ordered, time.perf_counter() - began, settings.out, index)
    reporter.build_finished(result)
    return result


async def _run_all(
    course: Course,
    order: list[int],
    settings: Settings,
    exporter: _ExportThread,
    reporter: Reporter,
) -> dict[int, NotebookResult]:
    """Read, then execute and export every notebook; results by course position."""
    results: dict[int, NotebookResult] = {}
    warm = None
    async with KernelPool(
        spares=settings.workers,
        startup_timeout=settings.startup_timeout,
        fork=settings.fork_kernels,
    ) as pool:
        runnable = []
        async for item in _load_all(course.sources, order, pool, results):
            runnable.append(item)
            if len(runnable) == settings.workers:
                # Importing nbconvert and compiling templates takes ~0.5 s and holds
                # the GIL: start once the first kernels are launched, so it overlaps
                # their boot instead of delaying it.
                warm = exporter.submit(exporter.exporters.warm_up)
        if warm is None:
            warm = exporter.submit(exporter.exporters.warm_up)
        reporter.build_started(len(course.sources), settings.workers)
        for result in results.values():
            _finish(settings, result, reporter)
        assets = exporter.submit(copy_assets, settings.course, settings.out, course.assets)
        queue: asyncio.Queue[tuple[int, LoadedNotebook]] = asyncio.Queue()
        for item in runnable:
            queue.put_nowait(item)
        workers = [
            _worker(queue, pool, exporter, settings, reporter, results)
            for _ in range(min(settings.workers, len(runnable)) or 1)
        ]
        await asyncio.gather(*workers)
    try:
        await assets
    except OSError as exc:
        reporter.warning(f"course files not all copied to {settings.out}: {exc}")
    await warm
    return results


def _prepare_output(settings: Settings) -> None:
    try:
        prepare(settings.out)
    except OSError as exc:
        raise OutputError(
            f"{settings.out}: cannot create the output folder ({exc.strerror})"
        ) from None


def _cancel_on_sigterm() -> None:
    """Treat SIGTERM like Ctrl-C: cancel the build so every kernel is cleaned up."""
    task = asyncio.current_task()
    try:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):
        pass  # Windows, or not the main thread


def _open_history(settings: Settings, reporter: Reporter) -> Store | None:
    """The course's store, or None (with a warning) when it cannot be used."""
    try:
        return Store(settings.cache_dir)
    except StoreError as exc:
        reporter.warning(f"{exc}; notebooks run in course order")
        return None


def _durations(history: Store | None, sources, reporter: Reporter) -> dict[str, float]:
    if history is None:
        return {}
    try:
        return history.durations(str(s.rel) for s in sources)
    except sqlite3.Error as exc:
        reporter.warning(f"{history.path}: run times unreadable ({exc})")
        return {}


def _record_runs(history: Store | None, results: list[NotebookResult], reporter: Reporter) -> None:
    """Keep how long each executed notebook took, for the next build's order."""
    if history is None:
        return
    runs = {
        str(r.source.rel): (r.stages["execute"] + r.stages.get("export", 0.0), r.status.value)
        for r in results
        if "execute" in r.stages
    }
    try:
        history.record_runs(runs)
    except sqlite3.Error as exc:
        reporter.warning(f"{history.path}: run times not saved ({exc})")


async def _load_all(
    sources, order: list[int], pool: KernelPool, results: dict[int, NotebookResult]
) -> AsyncIterator[tuple[int, LoadedNotebook]]:
    """Parse every source and check its kernel; the caller runs none until all are read.

    Sources are read in execution ``order`` and each notebook's kernel is announced
    to the pool as soon as it is read, so the first kernels boot while the rest of
    the course is still loading. Unreadable notebooks go into ``results`` as ERRORED.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    installed = sorted(KernelSpecManager().find_kernel_specs())
    for i in order:
        source = sources[i]
        try:
            loaded = load(source)
            if loaded.kernel_name not in installed:
                raise UnknownKernelError(
                    str(source.rel),
                    f"unknown kernel {loaded.kernel_name!r}; installed kernels: "
                    + (", ".join(installed) or "none"),
                )
        except NotebookError as exc:
            results[i] = NotebookResult(source, Status.ERRORED, error=exc)
            continue
        pool.expect([_request(loaded)])
        await asyncio.sleep(0)  # let the pool launch that kernel now
        yield i, loaded


def _request(loaded: LoadedNotebook) -> KernelRequest:
    return KernelRequest(loaded.kernel_name, loaded.source.path.parent)


async def _worker(queue, pool, exporter, settings, reporter, results) -> None:
    task = asyncio.current_task()
    while not queue.empty():
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        index, loaded = queue.get_nowait()
        results[index] = await _run_one(loaded, pool, exporter, settings, reporter)
        _finish(settings, results[index], reporter)


async def _run_one(
    loaded: LoadedNotebook,
    pool: KernelPool,
    exporter: _ExportThread,
    settings: Settings,
    reporter: Reporter,
) -> NotebookResult:
    source = loaded.source
    result = NotebookResult(source, Status.BUILT, title=loaded.title)
    reporter.notebook_started(source)
    began = time.perf_counter()
    options = ExecuteOptions(
        timeout=settings.timeout, allow_errors=matches_any(source.rel, settings.allow_errors)
    )
    try:
        try:
            kernel = await pool.take(_request(loaded))
        except (KernelStartError, RuntimeError, OSError) as exc:
            raise _kernel_start_failed(loaded, exc) from None
        ready = time.perf_counter()
        result.stages["kernel_wait"] = ready - began
        result.kernel_startup = kernel.startup
        try:
            await execute_notebook(loaded, kernel, options)
        finally:
            pool.discard(kernel)
            executed = time.perf_counter()
            result.stages["execute"] = executed - ready
        try:
            result.outputs = await exporter.submit(_export_and_write, exporter, loaded, settings)
        except OSError as exc:
            raise NotebookError(
                str(source.rel), f"outputs not written: {exc.strerror} ({exc.filename})"
            ) from None
        result.stages["export"] = time.perf_counter() - executed
    except NotebookError as exc:
        result.status = Status.FAILED if isinstance(exc, CellError) else Status.ERRORED
        result.error = exc
    except Exception as exc:  # a bug or an unforeseen failure costs one notebook only
        result.status = Status.ERRORED
        result.error = NotebookError(str(source.rel), f"internal error: {exc!r}")
    result.seconds = time.perf_counter() - began
    return result


def _kernel_start_failed(loaded: LoadedNotebook, exc: Exception) -> NotebookError:
    message = f"kernel {loaded.kernel_name!r} did not start: {exc}"
    log = getattr(exc, "log", "")
    if log:
        message += "\n" + "\n".join(log.splitlines()[-8:])
    return KernelDiedError(str(loaded.source.rel), message)


def _export_and_write(
    exporter: _ExportThread, loaded: LoadedNotebook, settings: Settings
) -> dict[str, Path]:
    """Runs on the export thread: render all formats, then write each atomically."""
    rendered = exporter.exporters.render(loaded.nb, title=loaded.title)
    paths = output_paths(loaded.source.stem, settings.formats)
    written = {}
    for fmt, data in rendered.items():
        target = settings.out / paths[fmt]
        write_atomic(target, data)
        written[fmt] = target
    return written


def _finish(settings: Settings, result: NotebookResult, reporter: Reporter) -> None:
    if not result.ok:
        try:
            remove_outputs(settings.out, result.source.stem, settings.formats)
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

    def submit(self, fn, *args) -> asyncio.Future:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        # Wait for the file being written: a write is never abandoned half way.
        self._pool.shutdown(wait=True, cancel_futures=True)


