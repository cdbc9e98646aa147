"""The records that flow through a build: sources in, results out."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath


class Status(enum.Enum):
    """How one notebook's build ended.

    FAILED means the notebook's own code raised (or a cell timed out); ERRORED
    means nbbuild could not run it at all (unreadable file, unknown or dead kernel).
    """

    BUILT = "built"
    FAILED = "failed"
    ERRORED = "errored"


class SourceKind(enum.Enum):
    IPYNB = "ipynb"
    PERCENT = "percent"


@dataclass(frozen=True)
class Source:
    """A notebook found in the course. ``rel`` is its path relative to the course.

    In a course with languages, each file is one source per language (``lang``):
    each is executed and recorded on its own.
    """

    path: Path
    rel: PurePosixPath
    kind: SourceKind
    lang: str | None = None
    #: The extension of its ``code`` output: a percent source's own, an
    #: ``.ipynb``'s kernel language's (``.sh`` for bash), else ``.py``.
    code_ext: str = ".py"

    @property
    def stem(self) -> PurePosixPath:
        """The output path without suffix: ``part1/intro`` for ``part1/intro.py``."""
        return self.rel.with_suffix("")

    @property
    def key(self) -> str:
        """What the store knows it by: its path, and its language if it has one."""
        return str(self.rel) if self.lang is None else f"{self.rel} [{self.lang}]"

    def __str__(self) -> str:
        return self.key


@dataclass(frozen=True)
class Course:
    """What discovery found: notebooks in course order, and every other file."""

    root: Path
    sources: tuple[Source, ...]
    assets: tuple[PurePosixPath, ...]
    #: A warning per file or folder left out (a link leading out, a FIFO, ...).
    skipped: tuple[str, ...] = ()


@dataclass
class NotebookResult:
    """The outcome of one notebook. ``error`` is set unless the status is BUILT."""

    source: Source
    status: Status
    outputs: dict[str, Path] = field(default_factory=dict)
    error: Exception | None = None
    title: str = ""
    #: Wall seconds per phase, disjoint: ``read`` (reading and parsing the source),
    #: ``kernel_wait`` (blocked on the pool), ``execute``, ``export`` (rendering and
    #: writing, including waiting for the export thread), ``db`` (recording it).
    stages: dict[str, float] = field(default_factory=dict)
    #: Within ``export``: seconds rendering each format, and writing all files.
    export_detail: dict[str, float] = field(default_factory=dict)
    #: Seconds per executed code cell, by 0-based cell index.
    cells: dict[int, float] = field(default_factory=dict)
    #: Seconds the notebook's kernel took to start (usually before it was needed).
    kernel_startup: float = 0.0
    #: How its kernel was started: "forked" (from a template), "spawned" (its
    #: kernelspec's command, by the launcher), or "" (no kernel, or on a cluster).
    kernel_start: str = ""
    #: CPU seconds of the notebook's kernel process, from its start (or fork)
    #: until the notebook was done with it; None when not measured.
    kernel_cpu: float | None = None
    #: Seconds from taking a worker until done (exported and recorded).
    seconds: float = 0.0
    #: ``time.perf_counter()`` when a worker took it (internal).
    started: float = 0.0
    #: Seconds from the start of execution until a worker took this notebook.
    queued: float = 0.0
    #: What this build did: "executed", "rendered" (from the cache) or "up to date".
    action: str = "executed"
    #: Why it was executed or rendered (from the cache's decision).
    reasons: list[str] = field(default_factory=list)
    #: The Dask worker it ran on (``--cluster``), else empty.
    worker: str = ""
    #: Cells (1-based, in the source) whose error was allowed (``allow_errors``,
    #: ``raises-exception``): built, with the traceback shown.
    raised: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status is Status.BUILT


@dataclass
class BuildResult:
    """All notebooks' results, in course order, and the wall time of the build."""

    results: list[NotebookResult]
    wall_time: float
    out: Path
    #: The course index page, when html was built.
    index: Path | None = None
    #: Wall seconds spent in the course's database during the build.
    db_seconds: float = 0.0
    #: Kernels the pool started (or forked), and whether they were forked.
    kernels_started: int = 0
    forked: bool = False
    #: Modules the kernel templates preloaded (``preload``), when kernels were forked.
    preload: tuple[str, ...] = ()
    #: Whether the pool adopted the template the command line started (head_start.py).
    template_head_start: bool = False
    #: CPU seconds of the nbbuild process itself (kernels are separate processes).
    cpu_seconds: float = 0.0
    #: Render processes beside the export thread, and their CPU seconds in this build.
    render_processes: int = 0
    render_cpu_seconds: float = 0.0
    #: The JSON report (report.py), when the build was recorded in the store.
    report: dict | None = None
    #: Sampled CPU and memory of nbbuild and its kernels (resources.py).
    resources: dict = field(default_factory=dict)
    #: Seconds from the first kernel launch until the first kernel was ready.
    pool_startup: float = 0.0
    #: Seconds from the start of execution until the last worker finished.
    execution_span: float = 0.0
    #: Broken links found in this build (source, cell, target), and whether they
    #: fail it (``strict``).
    broken_links: list[str] = field(default_factory=list)
    strict: bool = False
    #: Local links and asset references checked in the built pages (0 when no page
    #: changed, and none had to be read).
    links_checked: int = 0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def executed(self) -> int:
        """How many notebooks ran on a kernel in this build."""
        return sum(1 for r in self.results if "execute" in r.stages)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and not (self.strict and self.broken_links)
