"""Completing a notebook: collect what its kernel read, render and write every
output (on the export thread), record it in the store, and report it; or
re-render it from a cached execution, with no kernel.
"""

from __future__ import annotations

import sqlite3
import time

from nbbuild.config import Settings
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import (
    NotebookError,
)
from nbbuild.kernels.execute import (
    Execution,
    tracked_files,
)
from nbbuild.kernels.kernel import Kernel
from nbbuild.kernels.pool import KernelPool
from nbbuild.model import NotebookResult, Status
from nbbuild.pipeline.jobs import Job
from nbbuild.pipeline.session import (
    ExportThread,
)
from nbbuild.render.assets import install as install_static
from nbbuild.render.assets import needs_static
from nbbuild.render.failed import failed_view
from nbbuild.render.layout import asset_roots, outputs_of
from nbbuild.render.output_folder import OutputFolder
from nbbuild.render.outputs import copy_assets
from nbbuild.report.progress import Reporter
from nbbuild.store.database import NotebookRecord, Store, StoreError
from nbbuild.store.decisions import Cache
from nbbuild.store.failures import error_of, failed_key, failure_of, kept
from nbbuild.store.keys import apply_payload, output_caps, payload_of, was_truncated


async def complete(
    job: Job, result: NotebookResult, executed: tuple[Kernel, Execution] | None,
    pool: KernelPool, exporter: ExportThread, settings: Settings, folder: OutputFolder,
    reporter: Reporter, results: dict[int, NotebookResult], cache: Cache | None,
) -> None:
    """Collect what an executed notebook read, export and record it (or record its
    failure, with what ran up to it), then report it."""
    loaded = job.loaded
    try:
        if executed is not None:
            kernel, execution = executed
            began = time.perf_counter()
            # A cell stopped at its time limit leaves its kernel busy: not asked.
            busy = getattr(result.error, "timed_out", False)
            if kernel is not None:  # else it ran on a cluster, which said what it read
                try:
                    if cache is not None and not busy:
                        execution.reads, execution.writes = await tracked_files(
                            kernel, settings.course
                        )
                    execution.tracked = kernel.runs_python and not busy
                finally:
                    pool.discard(kernel)
                    result.kernel_cpu = kernel.cpu_seconds
            await write_outputs(exporter, loaded, settings, folder, result, job.decision.only)
            result.stages["export"] = time.perf_counter() - began
            if cache is not None:
                reads = (execution.reads - execution.writes) | cache.declared_files(loaded.source)
                if not execution.tracked:  # the kernel cannot say: its folder's files
                    reads |= cache.folder_files(loaded.source)
                payload = payload_of(loaded.nb)
                if result.error is not None:
                    payload["failure"] = failure_of(result.error)
                execution_record = (payload, cache.fingerprints(reads))
                record_result(cache, job, result, reporter, execution_record)
        else:
            record_result(cache, job, result, reporter)
    except NotebookError as exc:
        result.status, result.error, result.outputs = Status.ERRORED, exc, {}
        record_result(cache, job, result, reporter)
    except Exception as exc:  # a bug or an unforeseen failure costs one notebook only
        result.status = Status.ERRORED
        result.error = NotebookError(loaded.source.key, f"internal error: {exc!r}")
    result.seconds = time.perf_counter() - result.started
    results[job.index] = result
    finish(settings, folder, result, reporter)


async def render_all(jobs, exporter, settings, folder, reporter, results, cache) -> None:
    """Re-render notebooks from their cached executions (or kept failures): no
    kernel involved."""
    for job in jobs:
        loaded = job.loaded
        result = NotebookResult(
            loaded.source, Status.BUILT, title=loaded.title, action="rendered",
            reasons=job.decision.reasons,
        )
        if job.decision.failure is not None:
            result.status, result.error = Status.FAILED, error_of(job.decision.failure)
        reporter.notebook_started(loaded.source)
        result.stages["read"] = job.read_seconds
        began = time.perf_counter()
        try:
            apply_payload(loaded.nb, job.decision.payload)
            await write_outputs(exporter, loaded, settings, folder, result, job.decision.only)
            result.stages["export"] = time.perf_counter() - began
            record_result(cache, job, result, reporter)
        except NotebookError as exc:
            result.status, result.error, result.outputs = Status.ERRORED, exc, {}
        result.seconds = time.perf_counter() - began
        results[job.index] = result
        finish(settings, folder, result, reporter)


async def render_shared(leader: Job, leader_result: NotebookResult, job: Job, exporter,
                        settings: Settings, folder: OutputFolder, reporter: Reporter,
                        results: dict[int, NotebookResult], cache: Cache | None) -> None:
    """Render a notebook from the execution of another with the same code (a
    language of the same source), or its failure; no kernel involved."""
    loaded = job.loaded
    result = NotebookResult(
        loaded.source, Status.BUILT, title=loaded.title, action="rendered",
        reasons=[f"same code as {leader.loaded.source.key}, executed once for both"])
    reporter.notebook_started(loaded.source)
    result.stages["read"] = job.read_seconds
    began = time.perf_counter()
    try:
        apply_payload(loaded.nb, payload_of(leader.loaded.nb))
        if not leader_result.ok:
            result.status = Status.FAILED
            result.error = error_of({**failure_of(leader_result.error), "path": loaded.source.key})
        await write_outputs(exporter, loaded, settings, folder, result, job.decision.only)
        result.stages["export"] = time.perf_counter() - began
        record_result(cache, job, result, reporter)
    except NotebookError as exc:
        result.status, result.error, result.outputs = Status.ERRORED, exc, {}
    except Exception as exc:  # a bug or an unforeseen failure costs one notebook only
        result.status, result.outputs = Status.ERRORED, {}
        result.error = NotebookError(loaded.source.key, f"internal error: {exc!r}")
    result.seconds = time.perf_counter() - began
    results[job.index] = result
    finish(settings, folder, result, reporter)


async def write_outputs(
    exporter, loaded: LoadedNotebook, settings: Settings, folder: OutputFolder,
    result: NotebookResult, only: set[str] | None = None,
) -> None:
    """Render and write the notebook's outputs; a failed notebook's under the
    banner (failed.py), or none with ``failed_pages = "omit"``."""
    if result.status is Status.FAILED:
        if settings.failed_pages != "banner":
            result.outputs = {}
            return
        loaded = failed_view(loaded, result.error)
    else:
        result.raised = raised_cells(loaded)
    try:
        written = await exporter.render(loaded, folder, only)
    except OSError as exc:
        why = f"{exc.strerror} ({exc.filename})" if exc.strerror else repr(exc)
        raise NotebookError(loaded.source.key, f"outputs not written: {why}") from None
    folder.touched = folder.touched or bool(written.written)
    result.outputs, result.export_detail = written.outputs, written.detail


def raised_cells(loaded: LoadedNotebook) -> list[int]:
    """The cells (numbered as in the source) that raised and were allowed to."""
    return [loaded.cell_number(i) for i, cell in enumerate(loaded.nb.cells)
            if cell.cell_type == "code"
            and any(o.get("output_type") == "error" for o in cell.get("outputs", []))]


def record_result(
    cache: Cache | None, job: Job, result: NotebookResult, reporter: Reporter, execution=None
) -> None:
    """Record a notebook's build in the store, after its outputs exist (or failed).

    A failed notebook is recorded as failed. When its own code failed, what ran
    is kept apart from successful executions (failures.py), so an unchanged
    failure is not run again; an ERRORED one runs again. A record that cannot be
    written is a warning: the next build then simply does the work again.
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
        if result.ok:
            cache.store.record_notebook(record, execution)
        elif execution is not None and kept(result.error):
            cache.store.record_notebook(record, execution, failed_key(job.exec_key))
        else:
            cache.store.record_notebook(record)
    except StoreError as exc:
        if not told:  # once per build
            reporter.warning(str(exc))
    except sqlite3.Error as exc:
        reporter.warning(f"{source.rel}: not recorded in the cache ({exc})")
    result.stages["db"] = cache.store.seconds - before


def copy_course_files(settings: Settings, folder: OutputFolder, assets: tuple) -> list[str]:
    """The course's other files beside the notebooks, in every folder that mirrors
    the course (one per language, edition and format in a course with editions).
    Returns a message per file that could not be copied."""
    problems = []
    for root in asset_roots(settings):
        present, trouble = copy_assets(settings.course, settings.out / root, assets)
        folder.wrote(root / rel for rel in present)
        problems += trouble
    if needs_static(settings):
        present, trouble = install_static(settings.out)
        folder.wrote(present)
        problems += trouble
    return problems


def finish(
    settings: Settings, folder: OutputFolder, result: NotebookResult, reporter: Reporter
) -> None:
    if not result.ok and not result.outputs:
        try:
            folder.remove(outputs_of(settings, result.source).values())
        except OSError as exc:
            reporter.warning(f"old outputs of {result.source.rel} not removed: {exc}")
    reporter.notebook_finished(result)


def record_runs(store: Store | None, results: list[NotebookResult], reporter: Reporter) -> None:
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
