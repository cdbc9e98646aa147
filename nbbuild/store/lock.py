"""One build of a course at a time: an advisory lock in the course's store folder.

Two builds of the same course (two terminals, or watch mode and a manual build)
would interleave outputs and fight over the database. The second build waits for
the first, saying so, and proceeds when the lock is free; ``--no-wait`` makes it
stop at once instead. The lock is the operating system's (``flock`` on POSIX,
``msvcrt.locking`` on Windows), so it is released when its holder exits, however
it exits: a killed build never leaves a stale lock behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from nbbuild.errors import NbbuildError

LOCK_NAME = "build.lock"


class CourseLocked(NbbuildError):
    """Another build of this course holds the lock (and we were told not to wait)."""


class BuildLock:
    """Held for the whole build; a context manager."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(
        self, *, wait: bool = True, on_wait: Callable[[str], None] | None = None
    ) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+")  # noqa: SIM115 (kept open while held)
        try:
            wait_for_lock(
                f, wait=wait, on_wait=on_wait,
                busy=lambda: f"another build of this course is running ({_holder(f)})",
                waiting=lambda: f"waiting for another build of this course to finish "
                                f"({_holder(f)})")
        except CourseLocked:
            f.close()
            raise
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            f.seek(0)
            f.truncate()
            f.close()  # closing releases the lock

    def __enter__(self) -> BuildLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def wait_for_lock(
    f: IO[str], *, wait: bool, on_wait: Callable[[str], None] | None,
    busy: Callable[[], str], waiting: Callable[[], str],
) -> None:
    """Take the OS lock on ``f``: at once, or (``wait``) when its holder lets go,
    saying once that it waits; ``CourseLocked`` (with ``busy()``) when not waiting."""
    told = False
    while not try_lock(f):
        if not wait:
            raise CourseLocked(busy())
        if not told and on_wait is not None:
            on_wait(waiting())
            told = True
        time.sleep(0.2)


def _holder(f: IO[str]) -> str:
    f.seek(0)
    text = f.read().strip()
    return text or "holder unknown"


def try_lock(f: IO[str]) -> bool:
    """Take the OS lock on ``f`` without waiting; False when another holds it."""
    try:
        import fcntl

        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            f.seek(0)
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    except BlockingIOError:
        return False
