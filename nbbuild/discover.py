"""Find the notebooks of a course: a sorted, deterministic walk.

Rules (documented in docs/configuration.md):

* ``.ipynb`` files are notebooks.
* A ``.py`` file is a notebook when it has a percent cell marker, a line starting
  with ``# %%`` (or ``#%%``); any other ``.py`` file (a ``helpers.py``) is a
  plain module and is copied like any other course file.
* Hidden files and folders, ``.ipynb_checkpoints``, ``__pycache__``, the output
  folder and any folder that holds nbbuild's output marker are skipped.
* ``include`` globs select notebooks; ``exclude`` globs remove notebooks and files.
* Notebooks come in natural order of their paths (``2-x`` before ``10-x``).
* Two sources whose outputs would collide are an error naming both.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from pathlib import Path, PurePosixPath

from .config import CONFIG_FILE, Settings
from .errors import ConflictingOutputsError, DiscoveryError
from .globs import matches_any, natural_key
from .layout import INDEX, MARKER, asset_roots, outputs_of
from .model import Course, Source, SourceKind

SKIPPED_DIRS = frozenset({".ipynb_checkpoints", "__pycache__", "node_modules"})
_PERCENT_MARKER = re.compile(rb"^#\s?%%", re.MULTILINE)


def is_percent_notebook(path: Path) -> bool:
    """True when a ``.py`` file has at least one ``# %%`` cell marker."""
    try:
        with path.open("rb") as f:
            return _PERCENT_MARKER.search(f.read()) is not None
    except OSError:
        return False


def discover(settings: Settings) -> Course:
    """The course's notebooks in course order, and its other files."""
    root = settings.course
    if not root.is_dir():
        raise DiscoveryError(f"{root}: course folder not found")
    sources: list[Source] = []
    assets: list[PurePosixPath] = []
    for rel, path in _walk(root, settings.out):
        if matches_any(rel, settings.exclude):
            continue
        kind = _kind(path)
        if kind is None:
            if not _is_settings_file(rel, settings):
                assets.append(rel)
        elif matches_any(rel, settings.include):
            sources.append(Source(path=path, rel=rel, kind=kind))
    sources.sort(key=lambda s: natural_key(s.rel))
    assets.sort(key=natural_key)
    sources = [
        Source(s.path, s.rel, s.kind, lang)
        for s in sources
        for lang in (settings.languages or (None,))
    ]
    _check_conflicts(sources, assets, settings)
    return Course(root=root, sources=tuple(sources), assets=tuple(assets))


def _walk(root: Path, out: Path):
    """(relative path, absolute path) of every file not in a skipped folder."""
    out = out.resolve()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not _skip_dir(here / d, d, out))
        for name in sorted(filenames):
            if name.startswith(".") or is_editor_temporary(name):
                continue
            path = here / name
            yield PurePosixPath(path.relative_to(root).as_posix()), path


def is_editor_temporary(name: str) -> bool:
    """Files editors write beside the one being saved: backups (``x~``), vim's
    ``4913`` probe and swap files, Emacs' ``#x#`` and ``.#x``, JetBrains'
    ``___jb_tmp___``/``___jb_old___``. Never part of a course."""
    return (
        name.endswith("~")
        or name == "4913"
        or name.startswith(".#")
        or (name.startswith("#") and name.endswith("#"))
        or name.endswith((".swp", ".swx", ".swo", ".tmp"))
        or "___jb_" in name
    )


def never_read(rel: PurePosixPath, settings: Settings) -> bool:
    """Whether the walk would never read ``rel`` as a course file: hidden, in a
    cache folder, an editor's temporary file, in the output folder or the store.
    (Watch mode ignores changes to such paths; a cluster never sends them.)"""
    if any(p.startswith(".") or p in SKIPPED_DIRS for p in rel.parts):
        return True
    if is_editor_temporary(rel.name):
        return True
    path = settings.course / rel
    return any(path.is_relative_to(folder) for folder in (settings.out, settings.cache_dir))


def _skip_dir(path: Path, name: str, out: Path) -> bool:
    if name.startswith(".") or name in SKIPPED_DIRS:
        return True
    if (path / MARKER).exists():
        return True
    try:
        return path.resolve() == out
    except OSError:
        return True


def _kind(path: Path) -> SourceKind | None:
    if path.suffix == ".ipynb":
        return SourceKind.IPYNB
    if path.suffix == ".py" and is_percent_notebook(path):
        return SourceKind.PERCENT
    return None


def _is_settings_file(rel: PurePosixPath, settings: Settings) -> bool:
    return str(rel) == CONFIG_FILE or (
        settings.config_file is not None and str(rel) == settings.config_file.name
    )


def _check_conflicts(
    sources: list[Source], assets: list[PurePosixPath], settings: Settings
) -> None:
    claims: dict[PurePosixPath, list[str]] = defaultdict(list)
    if "html" in settings.formats:
        claims[INDEX].append("the course index")
    if "code" in settings.formats:  # a script next to a course file of the same name
        for root in asset_roots(settings):
            for rel in assets:
                claims[root / rel].append(f"the course file {rel}")
    for source in sources:
        for path in outputs_of(settings, source).values():
            claims[path].append(str(source))
    by_sources: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for path, who in sorted(claims.items()):
        if len(who) > 1:
            by_sources[tuple(dict.fromkeys(who))].append(str(path))
    if by_sources:
        lines = [
            f"  {' and '.join(who)} would both write {', '.join(paths)}" if len(who) > 1 else
            f"  {who[0]} would write two of its outputs to {', '.join(paths)} "
            "(the layout must tell languages, editions and formats apart)"
            for who, paths in by_sources.items()
        ]
        raise ConflictingOutputsError(
            "two sources map to the same output; rename or exclude one of each:\n"
            + "\n".join(lines)
        )
