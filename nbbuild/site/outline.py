"""The course as students see it: its title and introduction, its sections in
course order, each lecture by its title with its outputs; one outline per edition
and language (a variant), each with a home page of its own.

Titles come from the author's words, never from file names where words exist:
the course's ``title`` setting or the first heading of its README.md (or
index.md), a section's ``sections`` setting or the first heading of the folder's
README.md, a lecture's first heading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from nbbuild.config import Settings
from nbbuild.course.sources import plain_text
from nbbuild.model import NotebookResult, Source
from nbbuild.render.layout import Variant

#: A course's or a folder's introduction, first found first.
README_NAMES = ("README.md", "index.md", "readme.md")
_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_NUMBERING = re.compile(r"^[\d_.\-\s]+(?=\D)")


@dataclass
class Lecture:
    source: Source
    title: str
    #: This variant's outputs by format (``html``, ``slides``, ...), under the output folder.
    outputs: dict[str, PurePosixPath]


@dataclass
class Section:
    folder: PurePosixPath
    title: str
    lectures: list[Lecture] = field(default_factory=list)


def outline(settings: Settings, results: Sequence[NotebookResult],
            variant: Variant) -> list[Section]:
    """The variant's sections and lectures in course order. A lecture with no
    output in this variant (it failed) is left out: a student cannot open it."""
    sections: list[Section] = []
    for result in results:
        source = result.source
        if settings.languages and source.lang != variant.lang:
            continue
        outputs = {}
        for fmt in settings.formats:
            path = result.outputs.get(variant.output(fmt))
            if path is not None and result.ok:
                outputs[fmt] = PurePosixPath(path.relative_to(settings.out).as_posix())
        if not outputs:
            continue
        folder = source.rel.parent
        if not sections or sections[-1].folder != folder:
            sections.append(Section(folder, section_title(settings, folder)))
        title = result.title or source.stem.name
        sections[-1].lectures.append(Lecture(source, title, outputs))
    return sections


def course_title(settings: Settings) -> str:
    """The course's title: the setting, else its README's first heading, else its
    folder's name."""
    if settings.title:
        return settings.title
    heading, _ = _readme(settings.course)
    if heading:
        return heading
    return _words(settings.course.name) or "Course"


def course_intro(settings: Settings) -> str:
    """The home page's introduction, as markdown: the ``description`` setting,
    else the course README without its title."""
    if settings.description is not None:
        return settings.description
    return _readme(settings.course)[1]


def section_title(settings: Settings, folder: PurePosixPath) -> str:
    """A folder's title: the setting, its README's first heading, else its name
    without numbering (``01-basics`` is "Basics")."""
    key = folder.as_posix()
    if key == ".":
        return ""
    for name, title in settings.sections:
        if name == key:
            return title
    heading, _ = _readme(settings.course / folder)
    return heading or _words(folder.name)


def _words(name: str) -> str:
    text = _NUMBERING.sub("", name).replace("-", " ").replace("_", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def _readme(folder: Path) -> tuple[str, str]:
    """(first heading, the rest) of a folder's README, or two empty strings."""
    for name in README_NAMES:
        try:
            text = (folder / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        return split_title(text)
    return "", ""


def split_title(markdown: str) -> tuple[str, str]:
    """The first heading of a markdown text (when it opens the text) and the rest."""
    lines = markdown.splitlines()
    index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if index is None:
        return "", ""
    match = _ATX.match(lines[index])
    if match:
        return plain_text(match.group(2)), "\n".join(lines[index + 1:]).strip()
    if index + 1 < len(lines) and _SETEXT.match(lines[index + 1]):
        return plain_text(lines[index].strip()), "\n".join(lines[index + 2:]).strip()
    return "", markdown.strip()

