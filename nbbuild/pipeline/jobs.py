"""Deciding, before any notebook runs, what each one needs: up to date (often
without parsing it), re-rendered from its cached execution, or executed. Each
notebook to execute is announced to the pool as soon as it is decided.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from nbbuild.config import Settings
from nbbuild.course import editions
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import NotebookError, SourceError, UnknownKernelError
from nbbuild.kernels.kernel import KernelRequest
from nbbuild.kernels.pool import KernelPool
from nbbuild.model import NotebookResult, Source, SourceKind, Status
from nbbuild.render.layout import outputs_of
from nbbuild.report.progress import Reporter
from nbbuild.store.database import Store, StoreError
from nbbuild.store.decisions import (
    Action,
    Decision,
)
from nbbuild.store.failures import error_of


@dataclass
class Job:
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


async def plan_all(
    sources, order: list[int], pool: KernelPool, results: dict[int, NotebookResult], cache,
    settings: Settings,
) -> AsyncIterator[Job]:
    """Decide for every source before any notebook runs; yield what must be done.

    Up-to-date notebooks go straight into ``results`` (most without being parsed);
    so do unreadable ones (ERRORED). Each notebook to execute is announced to the
    pool as soon as it is decided, so the first kernels boot while the rest of the
    course is still being planned.
    """
    from nbbuild.kernels.kinds import kernel_spec_manager

    installed = None
    announced: set[str] = set()  # execution keys: the same code runs once (schedule.py)
    for i in order:
        source = sources[i]
        quick = cache.quick(source) if cache is not None else None
        if quick is not None:
            results[i] = _up_to_date(source, quick, cache.settings)
            continue
        if installed is None:
            installed = sorted(kernel_spec_manager().find_kernel_specs())
        try:
            loaded, before, read = _read(source, settings, installed)
        except NotebookError as exc:
            results[i] = NotebookResult(source, Status.ERRORED, error=exc)
            continue
        if cache is None:
            job = Job(i, loaded, Decision(Action.EXECUTE, ["cache not used"]))
        else:
            decision, parts, key = cache.decide(loaded)
            if decision.action is Action.SKIP:
                results[i] = _up_to_date(source, decision, cache.settings)
                continue
            job = Job(i, loaded, decision, parts, key, decision.export_parts)
        job.read_seconds = read
        if before is not None:
            job.source_stat = (before.st_mtime_ns, before.st_size, loaded.digest)
        shared = shared_key(job)
        if job.decision.action is Action.EXECUTE and pool is not None \
                and not (shared and shared in announced):
            announced.add(shared)
            pool.expect([kernel_request(loaded)])
            await asyncio.sleep(0)  # let the pool launch that kernel now
        yield job


def shared_key(job: Job) -> str:
    """What the notebooks executed once share (schedule.py): the source file and
    the execution key. Two files with the same code are executed each: one may be
    a copy meant to differ, by chance or by time. Empty without the cache."""
    return f"{job.loaded.source.rel}\0{job.exec_key}" if job.exec_key else ""


def _read(source: Source, settings: Settings, installed: list[str]
          ) -> tuple[LoadedNotebook, os.stat_result | None, float]:
    """The notebook as the build executes it, the source's stat taken before reading
    (what its record will claim), and the seconds reading took."""
    began = time.perf_counter()
    try:
        before = source.path.stat()
    except OSError:
        before = None  # gone: reading it says so
    try:
        loaded = editions.read(source, settings)
    except NotebookError:
        raise
    except Exception as exc:  # an unforeseen failure costs this notebook only
        raise SourceError(source.key, f"cannot be read: {exc!r}") from None
    if loaded.kernel_name not in installed:
        raise UnknownKernelError(
            source.key,
            f"unknown kernel {loaded.kernel_name!r}; installed kernels: "
            + (", ".join(installed) or "none") + _kernel_hint(source),
        )
    return loaded, before, time.perf_counter() - began


def _kernel_hint(source: Source) -> str:
    """For a percent source in another language: how to choose its kernel."""
    ext = source.rel.suffix.lstrip(".")
    if source.kind is not SourceKind.PERCENT or ext == "py":
        return ""
    return (f" (the kernel for .{ext} files; name another in nbbuild.toml: "
            f'[kernels] {ext} = "KERNEL", or in the file\'s jupytext header)')


def _up_to_date(source: Source, decision: Decision, settings: Settings) -> NotebookResult:
    """The result of a notebook the build does not touch: built, or failed as
    before (a kept failure: its outputs, if any, are under the banner)."""
    record = decision.record
    assert record is not None
    outputs = {key: settings.out / record.outputs[key] for key in outputs_of(settings, source)
               if key in record.outputs}
    if decision.failure is None:
        return NotebookResult(
            source, Status.BUILT, outputs=outputs, title=record.title, action="up to date")
    return NotebookResult(source, Status.FAILED, outputs=outputs, title=record.title,
                          action="up to date", error=error_of(decision.failure),
                          reasons=list(decision.reasons))


def kernel_request(loaded: LoadedNotebook) -> KernelRequest:
    return KernelRequest(loaded.kernel_name, loaded.source.path.parent)


def durations(store: Store | None, sources, reporter: Reporter) -> dict[str, float]:
    if store is None:
        return {}
    try:
        return store.durations(s.key for s in sources)
    except (sqlite3.Error, StoreError) as exc:
        reporter.warning(f"{store.path}: run times unreadable ({exc})")
        return {}


def open_store(settings: Settings, reporter: Reporter) -> Store | None:
    """The course's store, or None (with a warning) when it cannot be used."""
    try:
        return Store(settings.cache_dir)
    except StoreError as exc:
        reporter.warning(f"{exc}; building without the cache")
        return None
