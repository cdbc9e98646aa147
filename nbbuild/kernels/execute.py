"""Run one notebook through nbclient on a kernel the pool already started.

nbclient's ``execute()`` would start and own its kernel; here the kernel is ready
before the notebook's turn, so this module drives nbclient cell by cell on that
kernel's client and turns nbclient's exceptions into nbbuild's, naming the file,
the cell (1-based) and, for percent ``.py`` sources, the line in the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import KernelDiedError
from nbbuild.kernels.cell_errors import cell_error, died_error, timed_out_error, where
from nbbuild.kernels.kernel import Kernel, run_silent
from nbbuild.kernels.tracking import REPORT_EXPRESSION, parse_report


@dataclass(frozen=True, kw_only=True)
class ExecuteOptions:
    """How to run a notebook: per-cell timeout and whether errors are allowed;
    a limit for the whole notebook (None: none); how long a kernel may leave its
    heartbeat unanswered before it is given up."""

    timeout: float
    allow_errors: bool = False
    notebook_timeout: float | None = None
    heartbeat_timeout: float = 10.0
    #: Output kept per cell, in bytes (0: no limit); the rest is dropped, with a note.
    max_output_bytes: int = 0
    #: Rich outputs kept per cell (0: no limit).
    max_outputs: int = 0
    #: Resident memory a kernel may use, in bytes (0: no limit).
    kernel_memory_bytes: int = 0


@dataclass
class Execution:
    """Per-cell wall times (seconds, by cell index) of one execution, and the
    course files the kernel read and wrote (course-relative; when tracked)."""

    cell_seconds: dict[int, float] = field(default_factory=dict)
    seconds: float = 0.0
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    #: Whether the kernel reported what it read (an IPython kernel with nbbuild's
    #: tracker); if not, the notebook depends on the files of its folder.
    tracked: bool = True


def cell_timeout_default(loaded: LoadedNotebook, default: float) -> float:
    """The per-cell timeout: ``metadata.nbbuild.timeout`` of the notebook, else the build's."""
    value = (loaded.nb.metadata.get("nbbuild") or {}).get("timeout")
    return float(value) if isinstance(value, (int, float)) and value > 0 else default


async def execute_notebook(
    loaded: LoadedNotebook, kernel: Kernel, options: ExecuteOptions,
    execution: Execution | None = None,
) -> Execution:
    """Execute every code cell of ``loaded.nb`` in place on ``kernel``, timing them
    in ``execution`` (which, when given, holds the cells that ran if it raises).

    Raises ``CellError`` when a cell raises (unless errors are allowed for it) or
    times out, and ``KernelDiedError`` when the kernel dies.
    """
    from nbclient.exceptions import (
        CellExecutionError,
        CellTimeoutError,
        DeadKernelError,
    )

    began = time.perf_counter()
    client = _client_for(loaded, kernel, options, began)
    execution = execution if execution is not None else Execution()
    current = [-1]  # the cell running now, for messages
    cells = asyncio.ensure_future(_run_cells(client, loaded.nb, kernel, execution, current))
    heart = asyncio.ensure_future(_kernel_trouble(kernel, options))
    try:
        await asyncio.wait({cells, heart}, return_when=asyncio.FIRST_COMPLETED)
        if not cells.done():  # frozen, or over its memory limit: give the kernel up
            cells.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await cells
            raise KernelDiedError(
                loaded.source.key,
                f"{heart.result()} while running {where(loaded, current[0])}; "
                "it was stopped",
            )
        cells.result()
    except CellTimeoutError:
        own = _cell_timeout(loaded.nb.cells[current[0]],
                            cell_timeout_default(loaded, options.timeout))
        raise timed_out_error(loaded, current[0], time.perf_counter() - began,
                              options.notebook_timeout, own) from None
    except CellExecutionError as exc:
        raise cell_error(loaded, current[0], exc) from None
    except DeadKernelError:
        _reraise_cancellation()
        raise died_error(loaded, current[0], kernel) from None
    finally:
        for task in (cells, heart):
            task.cancel()
        await asyncio.gather(cells, heart, return_exceptions=True)
        execution.seconds = time.perf_counter() - began
    return execution


def _client_for(loaded: LoadedNotebook, kernel: Kernel, options: ExecuteOptions,
                began: float) -> Any:
    """nbclient's client on ``kernel``, with each cell's timeout (its own, or what is
    left of the notebook's limit, if less) and the output caps."""
    default_timeout = cell_timeout_default(loaded, options.timeout)
    limit = options.notebook_timeout

    def cell_timeout(cell) -> int:
        own = _cell_timeout(cell, default_timeout)
        if limit is None:
            return own
        left = limit - (time.perf_counter() - began)
        return max(1, min(own, math.ceil(left)))

    client = _bounded_client()(
        loaded.nb,
        km=kernel.km,
        timeout=int(default_timeout),
        timeout_func=cell_timeout,
        allow_errors=options.allow_errors,
        record_timing=False,
        interrupt_on_timeout=False,
    )
    client.kc = kernel.kc  # the constructor ignores a kc passed to it
    client.max_output_bytes = options.max_output_bytes
    client.max_outputs = options.max_outputs
    client.reset_execution_trackers()
    return client


async def _run_cells(client: Any, nb: Any, kernel: Kernel, execution: Execution,
                     current: list[int]) -> None:
    """Every cell in order, timing the code cells; ``current[0]`` is the one running."""
    if kernel.language_info:
        nb.metadata["language_info"] = kernel.language_info
    for index, cell in enumerate(nb.cells):
        current[0] = index
        t0 = time.perf_counter()
        await client.async_execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        if cell.cell_type == "code":
            execution.cell_seconds[index] = time.perf_counter() - t0
    client.set_widgets_metadata()


async def _kernel_trouble(kernel: Kernel, options: ExecuteOptions) -> str:
    """Return, with the reason, once the kernel has not answered its heartbeat for
    ``heartbeat_timeout`` seconds, or uses more memory than its limit.

    jupyter_client's heartbeat thread pings once a second; a busy cell does not
    stop the answers (ipykernel answers from a thread of its own), a stopped or
    frozen process does. Kernels whose heartbeat waits for the cell (IRkernel,
    tslab; kinds.py) are watched through their process instead: stopped is trouble
    (a dead one is found by nbclient), and the cell and notebook timeouts still
    apply. Memory is the resident size of the kernel and of every process it
    started, read with psutil four times a second."""
    channel = getattr(kernel.kc, "hb_channel", None) if kernel.beats_while_busy else None
    limit = options.kernel_memory_bytes
    silent_since = None
    stopped_since = None
    while True:
        await asyncio.sleep(0.25)
        if limit:
            used = _resident(kernel.processes())
            if used > limit:
                return (f"kernel used {used / 2**20:.0f} MB of memory, over its limit of "
                        f"{limit / 2**20:.0f} MB (kernel_memory_mb),")
        if channel is None:
            now = time.monotonic()
            stopped_since = (stopped_since or now) if _stopped(kernel) else None
            if stopped_since is not None and now - stopped_since >= options.heartbeat_timeout:
                return f"kernel process was stopped for {now - stopped_since:.0f} s"
            continue
        if channel.is_beating() or not channel.is_alive():
            silent_since = None
            continue
        now = time.monotonic()
        silent_since = silent_since or now
        if now - silent_since >= options.heartbeat_timeout:
            # the first missed ping was a second before it was seen as missed
            return f"kernel stopped answering its heartbeat for {now - silent_since + 1:.0f} s"


def _stopped(kernel: Kernel) -> bool:
    """Whether the kernel's process is stopped (SIGSTOP, a debugger) or a zombie."""
    import psutil

    processes = kernel.processes()
    if not processes:
        return False
    try:
        return processes[0].status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP,
                                         psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def _resident(processes: list) -> int:
    import psutil

    total = 0
    for proc in processes:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


@functools.cache
def _bounded_client() -> type:
    """nbclient's client, keeping at most ``max_output_bytes`` of output per cell.

    Past the limit, a cell's further outputs are dropped as they arrive (nbbuild's
    memory stays bounded whatever a cell prints) and one note says so. Errors are
    always kept: they say why a cell failed."""
    from nbclient import NotebookClient
    from nbformat.v4 import new_output

    from nbbuild.kernels.limits import COUNT_NOTE, NOTE

    class BoundedClient(NotebookClient):  # type: ignore[misc]
        max_output_bytes = 0
        max_outputs = 0

        def output(self, outs, msg, display_id, cell_index):  # type: ignore[no-untyped-def]
            if self.max_outputs and msg["msg_type"] in ("display_data", "execute_result"):
                counted = getattr(self, "_nbbuild_counted", None)
                if counted is None:
                    counted = self._nbbuild_counted = {}
                counted[cell_index] = counted.get(cell_index, 0) + 1
                if counted[cell_index] > self.max_outputs:
                    if counted[cell_index] == self.max_outputs + 1:
                        outs.append(new_output("stream", name="stderr",
                                               text=COUNT_NOTE.format(count=self.max_outputs)))
                    return None
            limit = self.max_output_bytes
            if limit and msg["msg_type"] in ("stream", "display_data", "execute_result"):
                used = getattr(self, "_nbbuild_used", None)
                if used is None:
                    used = self._nbbuild_used = {}
                before = used.get(cell_index, 0)
                size = _size(msg["content"])
                used[cell_index] = before + size
                if before + size > limit:
                    if before > limit:
                        return None  # already cut, and said so
                    if msg["msg_type"] == "stream" and before < limit:  # keep what fits
                        msg = {**msg, "content": {**msg["content"],
                                                  "text": msg["content"]["text"][:limit - before]}}
                        super().output(outs, msg, display_id, cell_index)
                    outs.append(new_output("stream", name="stderr",
                                           text=NOTE.format(mb=limit / 2**20)))
                    used[cell_index] = limit + 1
                    return None
            return super().output(outs, msg, display_id, cell_index)

    return BoundedClient


def _size(content: dict) -> int:
    if "text" in content:
        return len(content["text"])
    return sum(len(v) if isinstance(v, str) else len(str(v))
               for v in (content.get("data") or {}).values())


async def tracked_files(kernel: Kernel, root: Path) -> tuple[set[str], set[str]]:
    """The course files the kernel read and wrote, as the tracker the pool installed
    (``KernelPool(setup_code=...)``) saw them; empty sets if it cannot answer.

    Asked after the last cell, off the worker's critical path: under load each
    extra round trip to a kernel costs tens of milliseconds of waiting. A kernel
    that cannot run the tracker (not an IPython kernel) is not asked."""
    if not kernel.runs_python:
        return set(), set()
    try:
        reply = await run_silent(
            kernel.kc, "", timeout=30.0, user_expressions={"deps": REPORT_EXPRESSION}
        )
    except (TimeoutError, RuntimeError):
        return set(), set()
    return parse_report(reply["content"].get("user_expressions", {}), root)


def _reraise_cancellation() -> None:
    """nbclient turns a cancelled cell into ``DeadKernelError`` ("can only be
    cancelled when the kernel is dead"); when *we* were cancelled (Ctrl-C,
    SIGTERM), it is the cancellation, and it must go on up."""
    import asyncio

    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def _cell_timeout(cell, default: float) -> int:
    value = (cell.metadata.get("nbbuild") or {}).get("timeout")
    return int(value) if isinstance(value, (int, float)) and value > 0 else int(default)
