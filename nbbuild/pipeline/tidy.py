"""After the notebooks of a build: the site's home pages, outlines and search
indexes are written, what the build no longer produces is removed (only files
nbbuild wrote), the links of the built pages are checked, and the build's figures
and list of written files are kept.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path, PurePosixPath

from nbbuild.config import Settings
from nbbuild.model import BuildResult, Course, NotebookResult
from nbbuild.pipeline.session import ExportThread
from nbbuild.render.assets import asset_paths, needs_static
from nbbuild.render.layout import asset_roots, outputs_of
from nbbuild.render.links import broken_in_pages
from nbbuild.render.output_folder import OutputFolder
from nbbuild.report.progress import Reporter
from nbbuild.site.publish import site_paths, write_site
from nbbuild.store.database import Store, StoreError


async def check_links(exporter: ExportThread, folder: OutputFolder,
                      reporter: Reporter) -> tuple[list[str], int]:
    """Broken links: those found while rewriting lecture links (with their cell), and
    local links of every built page that lead to no file. Pages are read again only
    when this build wrote or removed something (a no-op build reads none)."""
    links, known = exporter.links, folder.broken_links
    if links is not None:  # what was rendered now replaces what was known of it
        for key in links.rewritten:
            known.pop(key, None)
        for (key, _cell, _target), message in links.problems.items():
            known.setdefault(key, []).append(message)
        sources = {s.key for s in links.course.sources}
        for key in [k for k in known if k and k not in sources]:
            del known[key]  # a lecture that is gone
    checked = 0
    if folder.touched:
        pages = [PurePosixPath(p) for p in sorted(folder.recorded) if p.endswith(".html")]
        checked, broken = await exporter.submit(broken_in_pages, folder.out, pages)
        named = {target for _key, _cell, target in (links.problems if links else {})}
        known[""] = [f"{page}: links to {target}, which is not in the output"
                     for page, target in broken if target not in named]
        if not known[""]:
            del known[""]
    problems = [message for key in sorted(known) for message in known[key]]
    for problem in problems:
        reporter.warning(f"broken link: {problem}")
    return problems, checked


def prune_stale(folder: OutputFolder, settings: Settings, course: Course,
                reporter: Reporter) -> None:
    try:
        gone = folder.prune(produced_paths(settings, course))
    except OSError as exc:
        reporter.warning(f"{folder.out}: stale outputs not all removed ({exc})")
        return
    if gone:
        shown = ", ".join(gone[:5]) + (f" and {len(gone) - 5} more" if len(gone) > 5 else "")
        reporter.warning(f"removed {len(gone)} stale file(s) from {folder.out}: {shown}")


def produced_paths(settings: Settings, course: Course) -> set[str]:
    """Every file a whole build of ``course`` writes, relative to the output folder:
    each notebook's outputs, the site's files (home pages, outlines, search), and the course's files in every folder that
    mirrors the course."""
    paths = site_paths(settings)
    for source in course.sources:
        paths.update(p.as_posix() for p in outputs_of(settings, source).values())
    for root in asset_roots(settings):
        paths.update((root / rel).as_posix() for rel in course.assets)
    if needs_static(settings):
        paths |= asset_paths()
    return paths


async def write_site_pages(exporter: ExportThread, folder: OutputFolder,
                           ordered: list[NotebookResult], reporter: Reporter) -> Path | None:
    """The home pages, outlines and search indexes, once every notebook is done."""
    if exporter.site is None:
        return None
    home, problems, _counts = await exporter.submit(
        write_site, exporter.site, folder, ordered, exporter.links)
    for problem in problems:
        reporter.warning(problem)
    return home


def record_build(store: Store, settings: Settings, result: BuildResult, reporter: Reporter) -> None:
    """Keep the build's figures, and warn when it was much slower than usual."""
    from nbbuild.report.json_report import build_report
    from nbbuild.report.trend import comparable_key, slower_than_usual

    report = build_report(result, course=settings.course, workers=settings.workers)
    key = comparable_key(report, settings.formats)
    try:
        warning = slower_than_usual(store, key, report)
        store.record_build(key, report)
    except (sqlite3.Error, StoreError) as exc:
        reporter.warning(f"{store.path}: build figures not saved ({exc})")
        return
    result.report = report
    if warning:
        reporter.warning(warning)


def save_manifest(folder: OutputFolder, reporter: Reporter) -> None:
    try:
        folder.save()
    except OSError as exc:
        reporter.warning(f"{folder.out}: list of written files not saved ({exc.strerror})")
