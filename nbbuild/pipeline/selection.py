"""Building part of a course (``nbbuild build COURSE lecture.py folder/``): the
notebooks at the paths given are built as usual; every other notebook the store
last recorded as built is kept as it is, so the home page, the contents and the
store stay those of the whole course. Nothing is pruned.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path, PurePosixPath

from nbbuild.config import Settings
from nbbuild.errors import DiscoveryError
from nbbuild.model import Course, NotebookResult, Source, Status
from nbbuild.pipeline.jobs import open_store
from nbbuild.report.progress import Reporter
from nbbuild.store.database import Store


def course_paths(course: Path, texts: tuple[str, ...]) -> list[PurePosixPath]:
    """PATHS of the command line as course-relative paths: each as given (from
    the working folder), else inside the course. Raises ``ValueError`` naming one
    that is neither, or that leads out of the course (a usage error)."""
    found = []
    for text in texts:
        path = next((p.resolve() for p in (Path(text), course / text) if p.exists()), None)
        if path is None:
            raise ValueError(f"{text}: no such file or folder (here or in {course})")
        if not path.is_relative_to(course):
            raise ValueError(f"{text}: not in the course {course}")
        found.append(PurePosixPath(path.relative_to(course).as_posix()))
    return found


def part_of(course: Course, paths: list[PurePosixPath], settings: Settings,
             reporter: Reporter) -> tuple[Course, set[str], dict[str, NotebookResult]]:
    """The course as a build of ``paths`` sees it: the notebooks there (``only``),
    and the others as the store last recorded them built; notebooks never built
    are left out, so the home page offers what exists."""
    chosen = select(course, paths)
    store = open_store(settings, reporter)
    previous: dict[str, NotebookResult] = {}
    if store is not None:
        try:
            for source in course.sources:
                if source.key not in chosen:
                    result = recorded_result(store, settings, source)
                    if result is not None:
                        previous[source.key] = result
        finally:
            store.close()
    kept = tuple(s for s in course.sources if s.key in chosen or s.key in previous)
    return dataclasses.replace(course, sources=kept), chosen, previous


def select(course: Course, paths: list[PurePosixPath]) -> set[str]:
    """The keys of the notebooks at ``paths`` (files, or folders and below);
    ``DiscoveryError`` names a path that holds none."""
    chosen: set[str] = set()
    for path in paths:
        found = {s.key for s in course.sources
                 if s.rel == path or path == PurePosixPath(".") or path in s.rel.parents}
        if not found:
            raise DiscoveryError(f"{path}: no notebook of the course is there")
        chosen |= found
    return chosen



def recorded_result(store: Store, settings: Settings, source: Source) -> NotebookResult | None:
    """A notebook as the store last recorded it built, with its outputs in place
    (for a build of part of the course); None otherwise."""
    record = store.notebook(source.key)
    if record is None or record.status != "built":
        return None
    outputs = {key: settings.out / rel for key, rel in record.outputs.items()}
    if not all(path.is_file() for path in outputs.values()):
        return None
    return NotebookResult(source, Status.BUILT, outputs=outputs, title=record.title,
                          action="up to date")

