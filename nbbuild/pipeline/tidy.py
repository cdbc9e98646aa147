"""After the notebooks of a build: what the build no longer produces is removed
(only files nbbuild wrote), and the links of the built pages are checked.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from nbbuild.config import Settings
from nbbuild.model import Course
from nbbuild.pipeline.session import ExportThread
from nbbuild.render.assets import asset_paths, needs_static
from nbbuild.render.layout import asset_roots, outputs_of
from nbbuild.render.links import broken_in_pages
from nbbuild.render.output_folder import OutputFolder
from nbbuild.report.progress import Reporter
from nbbuild.site.publish import site_paths


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
