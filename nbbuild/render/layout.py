"""Where each output goes: the output folder mirrors the course folder.

``part1/intro.ipynb`` (or ``part1/intro.py``) becomes ``part1/intro.html``,
``part1/intro.slides.html``, ``part1/intro.ipynb`` (and ``part1/intro.py`` for the
code format); the course index is ``index.html`` at the top. A course with
editions or languages puts each (language, edition, format) in a folder of its
own, by default ``<lang>/<edition>/<format>/`` (``layout`` setting), mirroring the
course below it. Every output folder holds a marker file so that a later build,
whatever ``--out`` it is given, never mistakes outputs for sources.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nbbuild.config import Settings
    from nbbuild.model import Source

SUFFIXES = {"html": ".html", "slides": ".slides.html", "notebook": ".ipynb", "code": ".py"}
INDEX = PurePosixPath("index.html")
MARKER = ".nbbuild-output"


def output_paths(stem: PurePosixPath, formats: tuple[str, ...],
                 code_ext: str = ".py") -> dict[str, PurePosixPath]:
    """Each format's output, relative to the output folder (the simple layout)."""
    return {fmt: stem.with_name(stem.name + suffix(fmt, code_ext)) for fmt in formats}


def suffix(fmt: str, code_ext: str = ".py") -> str:
    """A format's file suffix; the code format's is the source's language's."""
    return code_ext if fmt == "code" else SUFFIXES[fmt]


def output_key(lang: str | None, edition: str | None, fmt: str) -> str:
    """How an output is named in results and the store: ``en/speaker/html``, or
    just the format in the simple layout."""
    return "/".join(part for part in (lang, edition, fmt) if part)


def split_key(key: str) -> tuple[str | None, str]:
    """``(edition, format)`` of an output key (edition None in the simple layout)."""
    parts = key.split("/")
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def variant_folder(settings: Settings, lang: str | None, edition: str, fmt: str) -> PurePosixPath:
    """The folder, under the output folder, of one (language, edition, format)."""
    text = settings.layout.format(lang=lang or "", edition=edition, format=fmt)
    return PurePosixPath(*[part for part in text.split("/") if part])


def outputs_of(settings: Settings, source: Source) -> dict[str, PurePosixPath]:
    """Every output of ``source`` by key, relative to the output folder."""
    if not settings.variants:
        return output_paths(source.stem, settings.formats, source.code_ext)
    found = {}
    for edition in settings.edition_names:
        for fmt in settings.formats:
            folder = variant_folder(settings, source.lang, edition, fmt)
            name = source.stem.name + suffix(fmt, source.code_ext)
            found[output_key(source.lang, edition, fmt)] = folder / source.stem.parent / name
    return found


def asset_roots(settings: Settings) -> list[PurePosixPath]:
    """Folders that mirror the course, so each gets the course's other files."""
    if not settings.variants:
        return [PurePosixPath(".")]
    roots = {
        variant_folder(settings, lang, edition, fmt)
        for lang in (settings.languages or (None,))
        for edition in settings.edition_names
        for fmt in settings.formats
    }
    return sorted(roots)


def relative_url(target: PurePosixPath, page: PurePosixPath) -> str:
    """``target`` as a URL relative to ``page`` (both under the output folder)."""
    return posixpath.relpath(target.as_posix(), page.parent.as_posix() or ".")


@dataclass(frozen=True)
class Variant:
    """One edition in one language: one home page, one table of contents, one
    search index. The simple layout has one variant with neither."""

    lang: str | None
    edition: str | None
    #: Added to the names of the variant's site files: ``""`` for the first
    #: variant, ``".de"``, ``".speaker"``, ``".de.speaker"`` for the others.
    suffix: str

    @property
    def home(self) -> PurePosixPath:
        return PurePosixPath(f"index{self.suffix}.html")

    @property
    def outline_file(self) -> PurePosixPath:
        return PurePosixPath(f"_site/outline{self.suffix}.js")

    @property
    def search_file(self) -> PurePosixPath:
        return PurePosixPath(f"_site/search{self.suffix}.js")

    @property
    def search_stamps(self) -> PurePosixPath:
        """The search index's entries with their pages' stamps (site/search.py)."""
        return PurePosixPath(f"_site/.nbbuild-search{self.suffix}.json")

    def output(self, fmt: str) -> str:
        """The key of this variant's output of format ``fmt``."""
        return output_key(self.lang, self.edition, fmt)


def variants(settings: Settings) -> list[Variant]:
    """Every variant, the one students get first (first language, first edition
    that is not the speaker's) first: it owns ``index.html``."""
    if not settings.variants:
        return [Variant(None, None, "")]
    langs = list(settings.languages) or [None]
    editions = sorted(settings.edition_names, key=lambda e: e == "speaker")
    found = []
    for lang in langs:
        for edition in editions:
            parts = [lang if len(langs) > 1 else None, edition if len(editions) > 1 else None]
            first = lang == langs[0] and edition == editions[0]
            suffix = "" if first else "".join(f".{p}" for p in parts if p)
            found.append(Variant(lang, edition, suffix))
    return found


def has_site(settings: Settings) -> bool:
    """Whether the build has pages or decks, and so a site around them (and, with
    local assets, ``_static``)."""
    return bool({"html", "slides"} & set(settings.formats))


def site_files(settings: Settings) -> set[str]:
    """The course-wide files of the site (homes, outlines, search indexes), written
    when the course has pages or decks; under the output folder."""
    if not has_site(settings):
        return set()
    paths = set()
    for variant in variants(settings):
        paths |= {variant.home.as_posix(), variant.outline_file.as_posix()}
        if "html" in settings.formats:
            paths |= {variant.search_file.as_posix(), variant.search_stamps.as_posix()}
    return paths
