"""Watch mode: build once, then rebuild what each edit touches, on one warm pool.

A watchdog observer (inotify and friends, or polling with ``poll=True``) records
changed paths from its own thread; the loop here takes them, waits until edits
have been quiet for ``debounce`` seconds, and maps them to notebooks:

* a notebook's own file: that notebook (in every language);
* any other course file: the notebooks whose recorded execution read it (the
  cache's dependencies) and those that declare it (``depends``); it is copied to
  the output folder in any case;
* the course's settings file, or a folder: everything, with the settings read
  again and a fresh pool;
* editors' temporary and backup files, the output folder and the store: nothing.

Each rebuild runs on the same kernel pool and the same warm exporters
(``pipeline.session.Session``). An edit that arrives while a rebuild runs supersedes it:
the rebuild is cancelled (its kernels discarded, finished notebooks kept) and
started again with what was left and what changed, so rapid saves end in one
build of the final content. A notebook that disappears (deleted, or renamed:
a rename is a deletion and a new notebook) loses its outputs and its record.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from nbbuild.config import CONFIG_FILE, Settings, load_settings
from nbbuild.course.discover import discover, never_read
from nbbuild.course.globs import matches_any
from nbbuild.errors import ConfigError, NbbuildError
from nbbuild.model import BuildResult, NotebookResult, Source
from nbbuild.pipeline.build import build_in_session, claim_output
from nbbuild.pipeline.session import Session
from nbbuild.render.layout import asset_roots, outputs_of
from nbbuild.render.output_folder import OutputFolder
from nbbuild.report.progress import NullReporter, Reporter
from nbbuild.store.database import Store, StoreError
from nbbuild.store.keys import declared_globs
from nbbuild.store.lock import BuildLock

DEFAULT_DEBOUNCE = 0.2

#: Called with each notebook's result as soon as it is done (the preview server).
Listener = Callable[[NotebookResult, Settings], None]


class Watcher:
    """Build ``course``, then rebuild on changes until ``stop()``.

    ``overrides`` are the command line's settings, applied again whenever the
    course's settings file changes. ``builds`` keeps every build's result (tests,
    the preview server's index).
    """

    def __init__(
        self,
        course: Path,
        overrides: dict[str, Any] | None = None,
        reporter: Reporter | None = None,
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        poll: bool = False,
        listeners: list[Listener] | None = None,
    ) -> None:
        self.course = Path(course).resolve()
        self.overrides = dict(overrides or {})
        self.reporter = reporter or NullReporter()
        self.debounce = debounce
        self.poll = poll
        self.listeners = list(listeners or [])
        #: Called after each build, once the index is written (the preview server).
        self.after_build: list[Callable[[], None]] = []
        self.settings = load_settings(self.course, **self.overrides)
        #: The latest result of every notebook, by store key.
        self.results: dict[str, NotebookResult] = {}
        #: Builds finished so far, and the last one (not all: a long session
        #: would keep every result it ever had).
        self.build_count = 0
        self.last_build: BuildResult | None = None
        #: Set once the first build is done and the observer is running.
        self.ready = threading.Event()
        self._sources: dict[str, Source] = {}
        self._assets: set[PurePosixPath] = set()
        #: Changed paths, and whether each is a folder that came, moved or went.
        self._changed: dict[Path, bool] = {}
        self._changed_lock = threading.Lock()
        self._wakeup: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._finished: set[str] = set()
        self._last_only: set[str] | None = None

    # -- called from other threads -------------------------------------------------

    def stop(self) -> None:
        """End watch mode (thread-safe): the running build is cancelled, kernels go."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    def record(self, *paths: str, folder: bool = False) -> None:
        """Note changed paths (the observer's thread); the loop does the rest. A
        folder created, moved or deleted re-plans the whole course."""
        with self._changed_lock:
            for p in paths:
                if p:
                    path = Path(p)
                    self._changed[path] = self._changed.get(path, False) or folder
        if self._loop is not None and self._wakeup is not None:
            self._loop.call_soon_threadsafe(self._wakeup.set)

    # -- the loop ----------------------------------------------------------------------

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            self._loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        session = Session.open(self.settings)
        observer = self._observe()
        stop = asyncio.ensure_future(self._stop.wait())
        changes = asyncio.ensure_future(self._quiet_changes())
        build: asyncio.Future[None] | None = None
        pending: set[str] | None = None  # None: every notebook
        waiting = True  # pending holds work to start
        try:
            while True:
                if build is None and waiting:
                    self._last_only = pending
                    build = asyncio.ensure_future(self._build(session, pending))
                    pending, waiting = set(), False
                await asyncio.wait(
                    {stop, changes} | ({build} if build else set()),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if stop.done():
                    return
                if build is not None and build.done():
                    self._report_crash(build)
                    build = None
                    self.ready.set()
                if not changes.done():
                    continue
                affected, everything, restart = self._affected(changes.result())
                changes = asyncio.ensure_future(self._quiet_changes())
                if not self.course.is_dir():  # deleted (or moved away): wait for it
                    if build is not None:
                        await _cancelled(build)
                        build = None
                    observer.stop()
                    await asyncio.to_thread(observer.join, 5)
                    await self._wait_for_course(stop)
                    if stop.done():
                        return
                    observer = self._observe()
                    pending, waiting = None, True
                    continue
                if everything and not restart:
                    if build is not None:
                        await _cancelled(build)
                        build = None
                    pending, waiting = None, True
                elif restart:
                    try:
                        settings = load_settings(self.course, **self.overrides)
                    except ConfigError as exc:
                        self.reporter.warning(
                            f"{exc}; the last good settings are kept until the next save")
                        continue
                    if build is not None:
                        await _cancelled(build)
                        build = None
                    await session.close()
                    self.settings = settings
                    session = Session.open(self.settings)
                    pending, waiting = None, True
                elif affected is not None:
                    if build is not None:  # superseded: start again with what was left
                        await _cancelled(build)
                        build = None
                        affected |= self._unfinished()
                    if pending is not None:
                        pending |= affected
                    waiting = True
        finally:
            for task in (stop, changes, build):
                if task is not None:
                    await _cancelled(task)
            observer.stop()
            await asyncio.to_thread(observer.join, 5)
            await session.close()

    async def _wait_for_course(self, stop: asyncio.Future[None]) -> None:
        """The course folder is gone: say so once, and wait until it is back."""
        self.reporter.warning(f"{self.course} was deleted; waiting for it to come back "
                              "(Ctrl-C to stop)")
        while not self.course.is_dir() and not stop.done():
            await asyncio.wait({stop}, timeout=0.5)
        if not stop.done():
            self.reporter.warning(f"{self.course} is back; building it")

    def _report_crash(self, build: asyncio.Future[None]) -> None:
        """A bug in a build must not end watch mode: say so, and go on watching."""
        if not build.cancelled() and build.exception() is not None:
            self.reporter.warning(f"build failed: {build.exception()!r}")

    async def _quiet_changes(self) -> dict[Path, bool]:
        """The changed paths, once no new change came for ``debounce`` seconds."""
        assert self._wakeup is not None
        while True:
            with self._changed_lock:
                if self._changed:
                    break
            self._wakeup.clear()
            await self._wakeup.wait()
        while True:
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), self.debounce)
            except TimeoutError:
                break
        with self._changed_lock:
            changed, self._changed = self._changed, {}
        return changed

    async def _build(self, session: Session, only: set[str] | None) -> None:
        """One build: the notebooks in ``only`` (store keys), or all."""
        if not self.course.is_dir():
            return  # deleted: the loop waits for it (the lock would re-create it)
        lock = BuildLock(self.settings.cache_dir)
        await asyncio.to_thread(lock.acquire, wait=True, on_wait=self.reporter.warning)
        folder = None
        try:
            folder = await asyncio.to_thread(
                claim_output, self.settings, wait=True, on_wait=self.reporter.warning)
            self._forget_removed(folder)
            self._finished = set()
            reporter = _Listening(self.reporter, self._notebook_done)
            result = await build_in_session(
                self.settings, reporter, session, folder, only=only, previous=self.results)
            self.build_count += 1
            self.last_build = result
            for done in result.results:
                self.results[done.source.key] = done
            for callback in self.after_build:
                callback()
        except NbbuildError as exc:  # a clash of sources, an unusable output folder
            self.reporter.warning(str(exc))
        finally:
            if folder is not None:
                folder.release()
            lock.release()

    def _notebook_done(self, result: NotebookResult) -> None:
        self._finished.add(result.source.key)
        self.results[result.source.key] = result
        for listener in self.listeners:
            listener(result, self.settings)

    def _unfinished(self) -> set[str]:
        """Notebooks of a cancelled build that it did not finish."""
        planned = set(self._sources) if self._last_only is None else self._last_only
        return planned - self._finished

    # -- what a change touches ------------------------------------------------------------

    def _affected(self, changed: dict[Path, bool]) -> tuple[set[str] | None, bool, bool]:
        """Store keys to rebuild (None: nothing to do), whether to re-plan every
        notebook (a folder came or went), and whether to start over with the
        settings read again (the settings file changed)."""
        rels: set[str] = set()
        everything = False
        for path, folder in changed.items():
            try:
                rel = PurePosixPath(os.path.abspath(path)).relative_to(self.course)
            except ValueError:
                continue
            if not rel.parts or never_read(rel, self.settings):
                continue
            if str(rel) in (CONFIG_FILE, "pyproject.toml"):
                return None, True, True
            everything = everything or folder
            rels.add(rel.as_posix())
        if everything:
            return None, True, False
        if not rels:
            return None, False, False
        try:
            course = discover(self.settings)
        except NbbuildError as exc:
            self.reporter.warning(str(exc))
            return None, False, False
        current = {str(s.rel) for s in course.sources}
        known = {str(s.rel) for s in self._sources.values()}
        keys = {s.key for s in course.sources if str(s.rel) in rels}
        files = rels - current - known
        if files:
            keys |= self._dependents(files, course.sources)
        touched = bool(keys) or bool(files) or bool(rels & known)
        return (keys if touched else None), False, False

    def _dependents(self, files: set[str], sources: tuple[Source, ...]) -> set[str]:
        """Notebooks that read (recorded) or declare (``depends``) one of ``files``."""
        found: set[str] = set()
        try:
            with Store(self.settings.cache_dir) as store:
                found |= store.dependents(files)
        except (StoreError, OSError):
            pass
        for source in sources:
            globs = declared_globs(self.settings, source)
            if globs and any(matches_any(f, globs) for f in files):
                found.add(source.key)
        return found

    def _forget_removed(self, folder: OutputFolder) -> None:
        """Outputs and records of notebooks that are gone; copies of files that are gone."""
        try:
            course = discover(self.settings)
        except NbbuildError:
            return
        now = {s.key: s for s in course.sources}
        for key, source in list(self._sources.items()):
            if key in now:
                continue
            with contextlib.suppress(OSError):
                folder.remove(outputs_of(self.settings, source).values())
            self.results.pop(key, None)
            with contextlib.suppress(StoreError, OSError), Store(self.settings.cache_dir) as store:
                store.forget(key)
        for rel in self._assets - set(course.assets):
            with contextlib.suppress(OSError):
                folder.remove(root / rel for root in asset_roots(self.settings))
        self._sources, self._assets = now, set(course.assets)

    def _observe(self) -> Any:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        watcher = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type in ("opened", "closed_no_write"):
                    return
                if event.is_directory:
                    if event.event_type in ("created", "deleted", "moved"):
                        watcher.record(event.src_path, getattr(event, "dest_path", ""),
                                       folder=True)
                    return
                watcher.record(event.src_path, getattr(event, "dest_path", ""))

        observer = PollingObserver(timeout=0.5) if self.poll else Observer()
        observer.schedule(Handler(), str(self.course), recursive=True)
        observer.start()
        return observer



class _Listening(NullReporter):
    """The console reporter, plus a call for each finished notebook."""

    def __init__(self, inner: Reporter, on_done: Callable[[NotebookResult], None]) -> None:
        self._inner = inner
        self._on_done = on_done

    def warning(self, text: str) -> None:
        self._inner.warning(text)

    def build_started(self, total: int, workers: int) -> None:
        self._inner.build_started(total, workers)

    def notebook_started(self, source: Source) -> None:
        self._inner.notebook_started(source)

    def notebook_finished(self, result: NotebookResult) -> None:
        self._inner.notebook_finished(result)
        self._on_done(result)

    def build_finished(self, result: BuildResult) -> None:
        self._inner.build_finished(result)


async def _cancelled(task: asyncio.Future[None]) -> None:
    """Cancel ``task`` (if still running) and wait until it has cleaned up."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task

