"""The workers: each takes the next notebook to execute, waits for its kernel (or
sends it to a Dask worker) and executes it; finishing it goes on in the
background while the worker takes the next.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nbbuild.config import Settings
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import (
    BudgetError,
    CellError,
    KernelDiedError,
    NotebookError,
)
from nbbuild.kernels.execute import (
    ExecuteOptions,
    Execution,
    execute_notebook,
)
from nbbuild.kernels.kernel import Kernel, KernelStartError
from nbbuild.kernels.pool import KernelPool
from nbbuild.model import NotebookResult, Source, Status
from nbbuild.pipeline.completion import complete, render_shared
from nbbuild.pipeline.jobs import Job, kernel_request
from nbbuild.pipeline.schedule import Schedule
from nbbuild.report import budgets
from nbbuild.report.progress import Reporter


async def worker(
    schedule: Schedule, pool, exporter, settings, folder, reporter, results, cache, dispatched,
    finishing, cluster=None,
) -> None:
    """Take notebooks until none are left. A worker is held while its notebook waits
    for a kernel and executes; collecting what it read, exporting and recording go
    on in ``finishing`` while the worker's next notebook already runs. Notebooks
    with the same code (languages of one source) are rendered from one execution
    (schedule.py)."""
    task = asyncio.current_task()
    while (job := await schedule.take()) is not None:
        if task is not None and task.cancelling():
            raise asyncio.CancelledError
        queued = time.perf_counter() - dispatched
        try:
            if cluster is None:
                result, execution = await _execute_one(job, pool, settings, reporter)
            else:
                result, execution = await _execute_on_cluster(job, cluster, settings, reporter)
        finally:
            schedule.executed(job)
        result.queued = queued
        finishing.append(asyncio.ensure_future(_complete_and_share(
            schedule, job, result, execution, pool, exporter, settings, folder, reporter, results,
            cache)))


async def _complete_and_share(schedule: Schedule, job: Job, result: NotebookResult, execution,
                              pool, exporter, settings, folder, reporter, results, cache) -> None:
    """Complete a notebook, then render the notebooks that share its execution."""
    followers: list[Job] = []
    try:
        await complete(job, result, execution, pool, exporter, settings, folder, reporter,
                       results, cache)
    finally:
        followers = schedule.settle(job, result, shared=execution is not None)
    for follower in followers:
        await render_shared(job, result, follower, exporter, settings, folder, reporter,
                            results, cache)


async def _execute_one(
    job: Job, pool: KernelPool, settings: Settings, reporter: Reporter
) -> tuple[NotebookResult, tuple[Kernel, Execution] | None]:
    """Wait for a kernel and execute. Returns the kernel (still to be discarded) and
    the execution, or None with the error in the result (the kernel discarded).
    A notebook whose own code failed (FAILED) also returns them, with the error in
    the result: what ran up to the failure is rendered and kept."""
    loaded = job.loaded
    source = loaded.source
    result = _started(job, reporter)
    options = _options(settings, source)
    kernel = None
    try:
        try:
            kernel = await pool.take(kernel_request(loaded))
        except (KernelStartError, RuntimeError, OSError) as exc:
            raise _kernel_start_failed(loaded, exc) from None
        ready = time.perf_counter()
        result.stages["kernel_wait"] = ready - result.started
        result.kernel_startup = kernel.startup
        result.kernel_start = "forked" if kernel.forked else "spawned"
        execution = Execution()
        try:
            await execute_notebook(loaded, kernel, options, execution)
            note = budgets.check(
                budgets.budget_for(loaded, settings), time.perf_counter() - ready, source.key)
        except (CellError, BudgetError) as exc:
            result.status, result.error = Status.FAILED, exc
            return result, (kernel, execution)
        finally:
            result.stages["execute"] = time.perf_counter() - ready
            result.cells = {
                loaded.cell_number(i) - 1: seconds for i, seconds in execution.cell_seconds.items()
            }
        if note:
            reporter.warning(note)
        return result, (kernel, execution)
    except NotebookError as exc:
        failed = isinstance(exc, (CellError, BudgetError))
        result.status = Status.FAILED if failed else Status.ERRORED
        result.error = exc
    except Exception as exc:  # a bug or an unforeseen failure costs one notebook only
        result.status = Status.ERRORED
        result.error = NotebookError(source.key, f"internal error: {exc!r}")
    except asyncio.CancelledError:
        if kernel is not None:  # superseded (watch mode) or interrupted: never reused
            pool.discard(kernel)
        raise
    finally:
        if kernel is not None and result.error is not None and result.status is Status.ERRORED:
            pool.discard(kernel)
            result.kernel_cpu = kernel.cpu_seconds
    return result, None


def _started(job: Job, reporter: Reporter) -> NotebookResult:
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
    job: Job, cluster: Any, settings: Settings, reporter: Reporter
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
        result.error = NotebookError(source.key, f"cluster error: {exc!r}")
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


def _kernel_start_failed(loaded: LoadedNotebook, exc: Exception) -> NotebookError:
    message = f"kernel {loaded.kernel_name!r} did not start: {exc}"
    log = getattr(exc, "log", "")
    if log:
        message += "\n" + "\n".join(log.splitlines()[-8:])
    return KernelDiedError(loaded.source.key, message)
