"""Render one executed notebook to each of its outputs and write them atomically.

This is the one render step, run by the export thread and by the render processes
alike (render_processes.py): it reads nothing but its arguments and records
nothing, and returns what it wrote, so that one place (the build's event loop)
keeps the list of written files and the store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from nbbuild.config import Settings
from nbbuild.course import editions
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import NotebookError
from nbbuild.look import Look, LookError
from nbbuild.render import views
from nbbuild.render.assets import static_prefix
from nbbuild.render.exporters import Exporters
from nbbuild.render.layout import outputs_of, split_key
from nbbuild.render.links import LinkMap
from nbbuild.render.outputs import write_atomic
from nbbuild.site.navigation import SiteFrame, decorate_deck, decorate_page


@dataclass
class RenderContext:
    """What every render of one build shares: its settings, the lectures' links and
    the site frame (None: no site)."""

    settings: Settings
    links: LinkMap | None
    site: SiteFrame | None


@dataclass
class Written:
    """Every output of the notebook (path by key), the files this render wrote
    (relative to the output folder) and the seconds per ``render:FORMAT`` and
    ``write``."""

    outputs: dict[str, Path]
    written: list[PurePosixPath]
    detail: dict[str, float]


def render_and_write(exporters: Exporters, context: RenderContext, loaded: LoadedNotebook,
                     only: set[str] | None = None) -> Written:
    """Render the outputs (``only`` those keys, the others being up to date), then
    write each atomically."""
    settings = context.settings
    paths = outputs_of(settings, loaded.source)
    wanted = [key for key in paths if only is None or key in only]
    detail: dict[str, float] = {}
    rendered = {}
    lang = loaded.source.lang
    shown = _EditionViews(loaded, settings.variants)
    look = _look(settings, loaded)
    for key in wanted:
        edition, fmt = split_key(key)
        head = editions.notes_css(lang) if edition == "speaker" else ""
        began = time.perf_counter()
        nb = shown.notebook(edition, fmt)
        if context.links is not None and fmt != "code":
            nb = context.links.rewrite(nb, loaded.source, edition, fmt, paths[key],
                                       loaded.cell_numbers if shown.as_executed else None)
        data = exporters.render_one(
            fmt, nb, title=loaded.title, head=head, lang=lang, static=static_prefix(paths[key]),
            look=look)
        if context.site is not None and fmt in ("html", "slides"):
            site = context.site.for_output(loaded.source, key, paths, look)
            data = decorate_page(data, site) if fmt == "html" else decorate_deck(data, site)
        rendered[key] = data
        detail[f"render:{fmt}"] = detail.get(f"render:{fmt}", 0.0) + time.perf_counter() - began
    began = time.perf_counter()
    written = []
    for key, data in rendered.items():
        write_atomic(settings.out / paths[key], data)
        written.append(paths[key])
    detail["write"] = time.perf_counter() - began
    return Written({key: settings.out / path for key, path in paths.items()}, written, detail)


def _look(settings: Settings, loaded: LoadedNotebook) -> Look:
    """The course's look with the notebook's own settings (``nbbuild`` metadata)."""
    try:
        return settings.look.with_overrides(loaded.nb.metadata.get("nbbuild"),
                                            f"{loaded.source.rel}: metadata nbbuild")
    except LookError as exc:
        raise NotebookError(loaded.source.key, str(exc)) from None


class _EditionViews:
    """The notebook each (edition, format) renders: the edition of the executed
    notebook (editions.py), then what that format shows (views.py). A course without
    editions shows the completed edition, and its decks keep notes as speaker notes."""

    def __init__(self, loaded: LoadedNotebook, variants: bool) -> None:
        self.loaded = loaded
        self.variants = variants
        self._merged: Any = None
        self._editions: dict[str, Any] = {}

    def notebook(self, edition: str | None, fmt: str) -> Any:
        if not self.variants:
            edition = "speaker" if fmt == "slides" else "completed"
        return views.for_format(self._edition(edition), fmt, speaker=self.variants
                                and edition == "speaker")

    @property
    def as_executed(self) -> bool:
        """Whether the notebooks shown have the executed notebook's cells (so its
        cell numbers apply)."""
        return self.loaded.full is None

    def _edition(self, name: str) -> Any:
        if self.loaded.full is None:  # no edition tags: the executed notebook itself
            return self.loaded.nb
        if name not in self._editions:
            if self._merged is None:
                self._merged = editions.merged(self.loaded)
            self._editions[name] = editions.edition(self._merged, name, self.loaded.source.lang)
        return self._editions[name]
