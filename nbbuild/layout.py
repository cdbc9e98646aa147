"""Where each output goes: the output folder mirrors the course folder.

``part1/intro.ipynb`` (or ``part1/intro.py``) becomes ``part1/intro.html``,
``part1/intro.slides.html`` and ``part1/intro.ipynb``; the course index is
``index.html`` at the top. Every output folder holds a marker file so that a later
build, whatever ``--out`` it is given, never mistakes outputs for sources.
"""

from __future__ import annotations

from pathlib import PurePosixPath

SUFFIXES = {"html": ".html", "slides": ".slides.html", "notebook": ".ipynb"}
INDEX = PurePosixPath("index.html")
MARKER = ".nbbuild-output"


def output_paths(stem: PurePosixPath, formats: tuple[str, ...]) -> dict[str, PurePosixPath]:
    """Each format's output, relative to the output folder."""
    return {fmt: stem.with_name(stem.name + SUFFIXES[fmt]) for fmt in formats}
