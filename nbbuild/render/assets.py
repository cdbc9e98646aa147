"""The web assets pages and decks need, served from the output folder itself.

A built course must work from ``file://``, from any static host and with no network
(a classroom, a train, an exam hall). nbconvert's pages and decks load require.js,
jQuery, MathJax, mermaid and reveal.js from CDNs; nbbuild's own templates
(render/templates) load them from ``OUT/_static/`` instead, by a path relative to
each page, so they work from any subfolder. One copy per output folder, refreshed
only when the installed package changed.

The files come from packages installed with nbbuild, never from this repository:

* MathJax 3 (its combined TeX + CommonHTML component and fonts) from
  ``django-static-mathjax``, a packaging of MathJax with no dependencies;
* reveal.js 5 (core and the notes plugin) from ``sphinx-revealjs``.

No Python package ships mermaid: a diagram is shown as its source.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from importlib.util import find_spec
from pathlib import Path, PurePosixPath

from nbbuild.config import Settings
from nbbuild.errors import NbbuildError
from nbbuild.render.layout import has_site, relative_url
from nbbuild.render.outputs import copy_assets

STATIC = PurePosixPath("_static")
#: (folder under _static, package, folder inside the package, parts of it to copy).
SOURCES = (
    ("mathjax", "mathjax", "static/mathjax/es5",
     ("tex-chtml-full.js", "output/chtml/fonts/woff-v2", "ui", "a11y/assistive-mml.js")),
    ("reveal", "sphinx_revealjs", "_static/revealjs",
     ("dist/reveal.js", "dist/reveal.css", "dist/reset.css", "dist/theme", "plugin/notes",
      "LICENSE")),
)
_DISTRIBUTIONS = {"mathjax": "django-static-mathjax", "sphinx_revealjs": "sphinx-revealjs"}
#: The MathJax component a page loads: TeX input, every extension, CommonHTML output.
MATHJAX_SCRIPT = "tex-chtml-full.js"


class MissingAssets(NbbuildError):
    """A package that ships the assets is not installed (exit 2, before any work)."""


@functools.cache
def asset_files() -> tuple[tuple[Path, PurePosixPath], ...]:
    """(installed file, path under the output folder) of every asset."""
    found = []
    for name, package, inside, parts in SOURCES:
        spec = find_spec(package)
        if spec is None or spec.origin is None:
            raise MissingAssets(
                f"{_DISTRIBUTIONS[package]} is not installed; pages and decks need it to "
                f"work offline (pip install {_DISTRIBUTIONS[package]}, or set "
                'assets = "cdn")')
        root = Path(spec.origin).parent / inside
        for part in parts:
            top = root / part
            files = [top] if top.is_file() else sorted(p for p in top.rglob("*") if p.is_file())
            for path in files:
                rel = PurePosixPath(path.relative_to(root).as_posix())
                found.append((path, STATIC / name / rel))
    return tuple(found)


def asset_paths() -> set[str]:
    """Every asset's path under the output folder (what a build produces)."""
    return {str(rel) for _, rel in asset_files()}


def install(out: Path, files: Iterable[tuple[Path, PurePosixPath]] | None = None
            ) -> tuple[list[PurePosixPath], list[str]]:
    """Copy installed ``files`` (the assets by default) to their place under ``out``
    (unchanged files are left alone); the files now in place, and a message per
    file that could not be copied."""
    present: list[PurePosixPath] = []
    problems: list[str] = []
    for path, rel in asset_files() if files is None else files:
        done, trouble = copy_assets(path.parent, out / rel.parent, [PurePosixPath(path.name)])
        present += [rel for _ in done]
        problems += trouble
    return present, problems


def needs_static(settings: Settings) -> bool:
    """Whether the build writes ``_static``: pages or decks, with local assets."""
    return settings.assets == "local" and has_site(settings)


def static_prefix(page: PurePosixPath) -> str:
    """``_static`` as a URL relative to ``page`` (both under the output folder)."""
    return relative_url(STATIC, page)


def mathjax_url(prefix: str) -> str:
    return f"{prefix}/mathjax/{MATHJAX_SCRIPT}"


def reveal_prefix(prefix: str) -> str:
    return f"{prefix}/reveal"


def templates_dir() -> str:
    return os.path.join(os.path.dirname(__file__), "templates")
