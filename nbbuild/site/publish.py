"""Writing the course-wide files of the site after the notebooks: each variant's
home page, outline script and search index, and nbbuild's own scripts and styles
in ``_static/nbbuild``.

Each file is written only when its content changed, so a no-op build rewrites
nothing and a preview reloads only what changed. The search index is looked at
only when the build wrote something (or it is missing).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from nbbuild.config import Settings
from nbbuild.model import NotebookResult, Source, SourceKind
from nbbuild.render.assets import install
from nbbuild.render.layout import Variant, has_site, site_files
from nbbuild.render.output_folder import OutputFolder
from nbbuild.render.outputs import write_atomic
from nbbuild.site import search
from nbbuild.site.home import home_page
from nbbuild.site.navigation import OPEN_ORDER, SITE_STATIC, SiteFrame
from nbbuild.site.outline import Section, course_intro, outline

_OWN_STATIC = Path(__file__).parent / "static"


@functools.cache
def static_files() -> tuple[tuple[Path, PurePosixPath], ...]:
    """(installed file, path under the output folder) of the site's scripts and
    styles: nbbuild's own, and JupyterLab's dark theme from nbconvert's templates."""
    found = [(_OWN_STATIC / name, SITE_STATIC / name) for name in ("site.css", "site.js")]
    dark = _dark_theme()
    if dark is not None:
        found.append((dark, SITE_STATIC / "theme-dark.css"))
    return tuple(found)


def _dark_theme() -> Path | None:
    from jupyter_core.paths import jupyter_path

    for folder in jupyter_path("nbconvert", "templates"):
        path = Path(folder) / "lab" / "static" / "theme-dark.css"
        if path.is_file():
            return path
    return None


def site_paths(settings: Settings) -> set[str]:
    """Every file the site layer writes, relative to the output folder."""
    if not has_site(settings):
        return set()
    return {rel.as_posix() for _, rel in static_files()} | site_files(settings)


def write_site(frame: SiteFrame, folder: OutputFolder, results: Sequence[NotebookResult],
               links: Any = None) -> tuple[Path | None, list[str], dict[str, int]]:
    """Write the site's files; returns the first home page, a message per file
    that could not be written, and counts (``written``, ``pages_read``)."""
    settings = frame.settings
    if not has_site(settings):
        return None, [], {"written": 0, "pages_read": 0}
    out = settings.out
    present, problems = install(out, static_files())
    folder.wrote(present)
    counts = {"written": 0, "pages_read": 0}
    pages_changed = folder.touched  # by the notebooks, not by this step's own writes
    for variant in frame.variants:
        sections = outline(settings, results, variant)
        intro = _intro_html(frame, variant, links)
        files = {variant.home: home_page(frame, variant, sections, intro).encode("utf-8"),
                 variant.outline_file: _outline_script(frame, sections).encode("utf-8")}
        changed = {rel for rel, data in files.items() if _differs(out / rel, data)}
        if "html" in settings.formats:
            if (pages_changed or variant.outline_file in changed
                    or not (out / variant.search_file).is_file()):
                index, kept, read = search.build_index(
                    out, _pages(sections), search.read_stamps(out / variant.search_stamps))
                counts["pages_read"] += read
                for rel, data in ((variant.search_file, index.encode("utf-8")),
                                  (variant.search_stamps, json.dumps(kept, ensure_ascii=False)
                                   .encode("utf-8"))):
                    files[rel] = data
                    if _differs(out / rel, data):
                        changed.add(rel)
            else:
                folder.wrote([variant.search_file, variant.search_stamps])
        for rel, data in files.items():
            if rel in changed:
                try:
                    write_atomic(out / rel, data)
                except OSError as exc:
                    problems.append(f"{rel}: not written ({exc.strerror or exc})")
                    continue
                counts["written"] += 1
                folder.touched = True
            folder.wrote([rel])
    return out / frame.variants[0].home, problems, counts


def _pages(sections: list[Section]) -> list[tuple[PurePosixPath, str]]:
    """(page, lecture title) of every lecture with a page, in course order."""
    return [(lecture.outputs["html"], lecture.title)
            for section in sections for lecture in section.lectures if "html" in lecture.outputs]


def _differs(path: Path, data: bytes) -> bool:
    try:
        return path.read_bytes() != data
    except OSError:
        return True


def _outline_script(frame: SiteFrame, sections: list[Section]) -> str:
    data = {
        "title": frame.title,
        "sections": [
            {"t": section.title,
             "l": [[lecture.title,
                    lecture.outputs[next(f for f in OPEN_ORDER if f in lecture.outputs)]
                    .as_posix()] for lecture in section.lectures]}
            for section in sections],
    }
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    return f"window.nbbuildOutline = {text};\n"


def _intro_html(frame: SiteFrame, variant: Variant, links: Any) -> str:
    """The introduction as HTML, its links to lectures pointing at their outputs."""
    settings = frame.settings
    markdown = course_intro(settings)
    if not markdown.strip():
        return ""
    if links is not None:
        from nbformat.v4 import new_markdown_cell, new_notebook

        readme = Source(settings.course / "README.md", PurePosixPath("README.md"),
                        SourceKind.IPYNB, variant.lang)
        nb = links.rewrite(new_notebook(cells=[new_markdown_cell(markdown)]), readme,
                           variant.edition, "html", variant.home)
        markdown = nb.cells[0].source
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(markdown)
