"""Which notebook a worker executes next.

In a course with languages, each source is one notebook per language. Most of
their cells have no ``lang``, so their code is often the same: executing it once
per language doubled the work, and two languages running in the same folder at
once wrote the same files (a lecture failed in 3 of 8 builds at 4 workers). So:

* the notebooks of one source with the same execution key (the same code,
  kernel, folder, ...; store/keys.py) are executed once, by the first of them
  (the *leader*); the
  others (*followers*) are rendered from its execution once it is done, or,
  when it could not run at all (ERRORED), executed after all;
* two notebooks of the same source file never execute at the same time.

Without the cache there are no execution keys: each notebook runs, one variant
of a source at a time.
"""

from __future__ import annotations

import asyncio
from pathlib import PurePosixPath

from nbbuild.model import NotebookResult, Status
from nbbuild.pipeline.jobs import Job, shared_key


class Schedule:
    """The notebooks to execute, in execution order, handed out as they may run."""

    def __init__(self, jobs: list[Job]) -> None:
        self._waiting: list[Job] = []
        self._followers: dict[str, list[Job]] = {}
        self._running: set[PurePosixPath] = set()
        self._changed = asyncio.Event()
        for job in jobs:
            key = shared_key(job)
            if key and key in self._followers:
                self._followers[key].append(job)
                continue
            if key:
                self._followers[key] = []
            self._waiting.append(job)
        self._followers = {k: v for k, v in self._followers.items() if v}

    @property
    def executions(self) -> int:
        """How many notebooks will be executed (followers of a leader that errs
        are added when it does)."""
        return len(self._waiting)

    async def take(self) -> Job | None:
        """The next notebook no variant of which is executing; None when every
        notebook has been handed out (or is rendered from its leader)."""
        while True:
            for i, job in enumerate(self._waiting):
                rel = job.loaded.source.rel
                if rel not in self._running:
                    del self._waiting[i]
                    self._running.add(rel)
                    return job
            if not self._waiting and not self._followers:
                return None
            self._changed.clear()
            await self._changed.wait()

    def executed(self, job: Job) -> None:
        """The notebook's execution is over: another variant of it may run."""
        self._running.discard(job.loaded.source.rel)
        self._changed.set()

    def settle(self, leader: Job, result: NotebookResult, shared: bool) -> list[Job]:
        """Once a leader is complete: its followers to render from its execution, or
        none when it did not run or its execution is not here to share (on a
        cluster): they are then executed after all."""
        followers = self._followers.pop(shared_key(leader), [])
        self._changed.set()
        if result.status is Status.ERRORED or not shared:
            self._waiting[:0] = followers
            return []
        return followers
