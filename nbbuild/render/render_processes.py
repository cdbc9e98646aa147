"""Render processes: rendering on every core, beside the export thread.

Rendering a page is Python holding the GIL (nbconvert's Jinja templates, Pygments,
nbformat copies); one export thread renders on one core however many kernels run.
These processes render and write the outputs of executed notebooks in parallel.

They are forked by multiprocessing's fork server, which imported nbconvert and
rendered a warm-up notebook once (render_server.py): a new process renders its
first page at once instead of after ~1.5 s of imports. Where there is no fork
(Windows) they are spawned. What a build's renders share (its settings, the
lectures' links, the site frame) goes to a file once per build; each notebook
travels alone. A process writes its files atomically and returns their paths; the
build records them (one writer of the store and of the list of written files).

A process ignores Ctrl-C: the build waits for the writes under way, then stops
the processes. One whose build is gone (``kill -9``) ends within 0.2 s. One that
dies takes its notebook with it: that notebook is rendered again on the export
thread, and new processes replace the pool.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
import threading
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any

from nbbuild.course.sources import LoadedNotebook
from nbbuild.render.write import RenderContext, Written

#: Below this many files to render, processes cost more than they save.
MIN_FILES = 200
#: On two cores or fewer the kernels and nbbuild already share the cores: processes
#: pay off only when each executed notebook has this many files to render.
MIN_FILES_PER_NOTEBOOK_ON_FEW_CORES = 6


class RenderProcessDied(Exception):
    """A render process ended while rendering; the notebook was not written."""


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def processes_for(setting: str | int, files: int, notebooks: int) -> int:
    """How many render processes a build with ``files`` to render, for ``notebooks``
    notebooks, gets: the setting when it is a number, else (``auto``) one per core
    when there is enough to render, by the rule measured in docs/performance.md."""
    if setting != "auto":
        return int(setting)
    n = cores()
    if n < 2 or files < MIN_FILES:
        return 0
    if n <= 2 and files < MIN_FILES_PER_NOTEBOOK_ON_FEW_CORES * max(1, notebooks):
        return 0
    return n


class RenderProcesses:
    """A pool of warm render processes, started in the background on first need and
    kept for a watch session."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.busy = 0
        #: Processes known to be up; a notebook goes to them only then.
        self.ready = 0
        self._executor: ProcessPoolExecutor | None = None
        self._folder = Path(tempfile.mkdtemp(prefix="nbbuild-render-"))
        self._context_file: str | None = None
        # Starting (on a thread) and closing exclude each other: a build that ends
        # while its processes still start stops them once they are up.
        self._lifecycle = threading.Lock()
        self._closed = False

    def start(self) -> None:
        """Start the processes and wait until each has answered (blocking: run it
        on a thread). Also replaces a broken pool; does nothing once closed."""
        from nbbuild.render import render_worker

        with self._lifecycle:
            if self._closed:
                return
            _socket_folder(self._folder)
            self._executor = _executor(self.count)
            try:
                ready = [self._executor.submit(render_worker.ready) for _ in range(self.count)]
                for future in ready:
                    future.result()
            except BaseException:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = None
                raise
            self.ready = self.count

    @property
    def free(self) -> bool:
        return self._executor is not None and self.busy < self.ready

    def share(self, context: RenderContext) -> None:
        """What this build's renders share, written once for the processes to read."""
        path = self._folder / f"{uuid.uuid4().hex}.pickle"
        path.write_bytes(pickle.dumps(context, protocol=pickle.HIGHEST_PROTOCOL))
        if self._context_file is not None:
            Path(self._context_file).unlink(missing_ok=True)
        self._context_file = str(path)

    async def render(self, loaded: LoadedNotebook, only: set[str] | None,
                     on_written: Any) -> Written:
        """Render and write one notebook in a process (the caller counts it in
        ``busy``). ``on_written`` is given the result as soon as the files exist,
        even when the caller was cancelled meanwhile."""
        assert self._executor is not None and self._context_file is not None
        from nbbuild.render import render_worker

        try:
            future = self._executor.submit(render_worker.render, self._context_file, loaded, only)
            future.add_done_callback(partial(when_written, on_written))
            return await asyncio.wrap_future(future)
        except BrokenProcessPool:  # at submit, or while it rendered
            self._replace()
            raise RenderProcessDied() from None

    def cpu_seconds(self) -> float:
        """CPU the live processes have used (user and system)."""
        import psutil

        total = 0.0
        for pid in self.pids():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            total += times.user + times.system
        return total

    def pids(self) -> list[int]:
        processes = getattr(self._executor, "_processes", None) or {}
        return list(processes)

    def _replace(self) -> None:
        """A process died: the pool is broken. New processes start in the background."""
        broken, self._executor = self._executor, None
        self.ready = 0
        if broken is not None:
            broken.shutdown(wait=False, cancel_futures=True)
        asyncio.get_running_loop().run_in_executor(None, self._restart)

    def _restart(self) -> None:
        try:
            self.start()
        except Exception:  # noqa: BLE001 - the export thread renders alone meanwhile
            pass

    def close(self) -> None:
        """Wait for the writes under way, stop the processes and the fork server."""
        with self._lifecycle:
            self._closed = True
            executor, self._executor = self._executor, None
            self.ready = 0
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
            _stop_fork_server()
            _socket_folder(None, unless=self._folder)
            shutil.rmtree(self._folder, ignore_errors=True)


def when_written(on_written: Any, future: Any) -> None:
    """A done-callback: ``on_written(result)`` unless the render failed."""
    if not future.cancelled() and future.exception() is None:
        on_written(future.result())


def _executor(count: int) -> ProcessPoolExecutor:
    from nbbuild.render import render_worker

    if sys.platform != "win32" and "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["nbbuild.render.render_server"])
    else:
        context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(count, mp_context=context, initializer=render_worker.start,
                               initargs=(os.getpid(),))


def _socket_folder(folder: Path | None, unless: Path | None = None) -> None:
    """Where multiprocessing puts its fork server's socket: the render processes'
    own folder, removed with them, instead of a folder of its own in TMPDIR that
    it keeps for the life of the process (a test's TMPDIR is gone by the next
    build). ``folder=None`` forgets ours. (``_config`` is CPython's; without it,
    multiprocessing makes its own folder as usual.)"""
    config = getattr(multiprocessing.current_process(), "_config", None)
    if not isinstance(config, dict):
        return
    if folder is not None and not os.path.isdir(config.get("tempdir") or ""):
        config["tempdir"] = str(folder)
    elif folder is None and unless is not None and config.get("tempdir") == str(unless):
        del config["tempdir"]


def _stop_fork_server() -> None:
    """The fork server is global to a process and would idle until nbbuild exits;
    a build that started it stops it (CPython's own ``_stop``, else it idles)."""
    try:
        from multiprocessing import forkserver

        stop = getattr(forkserver._forkserver, "_stop", None)
        if stop is not None and forkserver._forkserver._forkserver_pid is not None:
            stop()
    except Exception:  # noqa: BLE001 - an idle server ends with nbbuild anyway
        pass
