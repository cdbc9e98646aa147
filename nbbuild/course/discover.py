"""Find the notebooks of a course: a sorted, deterministic walk.

Rules (documented in docs/configuration.md):

* ``.ipynb`` files are notebooks.
* A ``.py`` file is a notebook when it has a percent cell marker, a line starting
  with ``# %%`` (or ``#%%``); any other ``.py`` file (a ``helpers.py``) is a
  plain module and is copied like any other course file.
* Only regular files are read: FIFOs, sockets and devices are skipped with a
  warning, and so are symbolic links to files outside the course (unless
  ``allow_links`` names them) or to nothing. Links that stay inside the course
  are followed: a linked data folder is copied as content. A link to a folder
  outside the course is followed as a *data folder*: its files are copied, its
  notebooks are not built (they belong to another course); a link to the
  course's own folder or one above it, the home folder or ``/`` is not. A link to
  a folder that holds it (a loop) is not followed, and said once.
* Hidden files and folders, ``.ipynb_checkpoints``, ``__pycache__``, the output
  folder and any folder that holds nbbuild's output marker are skipped.
* ``include`` globs select notebooks; ``exclude`` globs remove notebooks and files.
* Notebooks come in natural order of their paths (``2-x`` before ``10-x``).
* Two sources whose outputs would collide are an error naming both.
"""

from __future__ import annotations

import os
import re
import stat
from collections import defaultdict
from pathlib import Path, PurePosixPath

from nbbuild.config import CONFIG_FILE, Settings
from nbbuild.course import languages
from nbbuild.course.globs import matches_any, natural_key
from nbbuild.errors import ConflictingOutputsError, DiscoveryError
from nbbuild.model import Course, Source, SourceKind
from nbbuild.render.layout import MARKER, asset_roots, outputs_of, site_files

SKIPPED_DIRS = frozenset({".ipynb_checkpoints", "__pycache__", "node_modules"})
def is_percent_notebook(path: Path) -> bool:
    """True when a script in a language jupytext reads (``.py``, ``.sh``, ``.ts``,
    ``.r``, ...) has at least one cell marker (``# %%``, ``// %%``)."""
    pattern = languages.marker(path.suffix)
    if pattern is None:
        return False
    text = _regular_bytes(path)
    return text is not None and re.search(pattern.pattern.encode(), text, re.M) is not None


def _regular_bytes(path: Path, last: int | None = None) -> bytes | None:
    """A regular file's bytes (only its ``last`` ones, if given), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            if last is not None and st.st_size > last:
                f.seek(st.st_size - last)
            return f.read()
    except OSError:
        return None


_KERNELSPEC = re.compile(rb'"kernelspec"\s*:\s*\{([^{}]*)\}')
_LANGUAGE = re.compile(rb'"language"\s*:\s*"([^"\\]*)"')


def code_extension(path: Path, kind: SourceKind) -> str:
    """The extension of a source's ``code`` output: a percent source's own; for an
    ``.ipynb``, its kernelspec's language's, read from the end of the file (where
    nbformat writes the metadata) without parsing it; ``.py`` when unknown."""
    if kind is SourceKind.PERCENT:
        return path.suffix
    tail = _regular_bytes(path, last=64 * 1024) or b""
    spec = _KERNELSPEC.search(tail)
    found = _LANGUAGE.search(spec.group(1)) if spec else None
    return languages.script_extension(found.group(1).decode() if found else None)


def discover(settings: Settings) -> Course:
    """The course's notebooks in course order, and its other files."""
    root = settings.course
    if not root.is_dir():
        raise DiscoveryError(f"{root}: course folder not found")
    sources: list[Source] = []
    assets: list[PurePosixPath] = []
    skipped: list[str] = []
    for rel, path, data in _walk(root, settings, skipped):
        if matches_any(rel, settings.exclude):
            continue
        kind = None if data else _kind(path)
        if kind is None:
            if not _is_settings_file(rel, settings):
                assets.append(rel)
        elif matches_any(rel, settings.include):
            code_ext = code_extension(path, kind) if "code" in settings.formats else ".py"
            sources.append(Source(path=path, rel=rel, kind=kind, code_ext=code_ext))
    sources.sort(key=lambda s: natural_key(s.rel))
    assets.sort(key=natural_key)
    sources = [
        Source(s.path, s.rel, s.kind, lang, s.code_ext)
        for s in sources
        for lang in (settings.languages or (None,))
    ]
    _check_conflicts(sources, assets, settings)
    return Course(root=root, sources=tuple(sources), assets=tuple(assets),
                  skipped=tuple(skipped))


def _walk(root: Path, settings: Settings, skipped: list[str]):
    """(relative path, absolute path) of every regular file of the course not in a
    skipped folder; what is left out for a reason is said in ``skipped``."""
    out = settings.out.resolve()
    real_root = root.resolve()
    # (folder, its course-relative path, the real folders above it: a loop guard,
    # whether it is a data folder outside the course)
    stack: list[tuple[Path, PurePosixPath, frozenset[Path], bool]] = [
        (root, PurePosixPath("."), frozenset({real_root}), False)]
    while stack:
        here, rel_here, above, data = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(f"{rel_here}: folder not read ({exc.strerror}); skipped")
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or name in SKIPPED_DIRS or is_editor_temporary(name):
                continue
            path, rel = here / name, rel_here / name
            if "\n" in name or "\r" in name:
                skipped.append(f"{rel!s:.80}: a name with a line break; skipped (rename it)")
                continue
            try:
                kind, real = _entry_kind(entry, real_root, rel, settings)
            except _Skip as why:
                skipped.append(f"{rel}: {why}; skipped")
                continue
            if kind == "dir":
                if real in above:
                    skipped.append(f"{rel}: a link to a folder that holds it (a loop); "
                                   "not followed")
                    continue
                if _skip_dir(path, name, out):
                    continue
                outside = data or not real.is_relative_to(real_root)
                stack.append((path, rel, above | {real}, outside))
            else:
                yield rel, path, data


class _Skip(Exception):
    """Why a directory entry is not part of the course."""


def _entry_kind(
    entry: os.DirEntry, real_root: Path, rel: PurePosixPath, settings: Settings
) -> tuple[str, Path]:
    """``("dir" | "file", real path)`` of an entry the walk may enter or read."""
    path = Path(entry.path)
    if entry.is_symlink():
        real = Path(os.path.realpath(path))
        try:
            st = real.stat()
        except OSError:
            raise _Skip("a link to nothing") from None
        if not real.is_relative_to(real_root) and not matches_any(rel, settings.allow_links):
            if not stat.S_ISDIR(st.st_mode):
                raise _Skip(f"a link leading out of the course (to {real}); allow it with "
                            "allow_links")
            if real_root.is_relative_to(real) or real == Path.home().resolve():
                raise _Skip(f"a link to {real}, which holds the course or is the home "
                            "folder; not followed")
    else:
        real = path
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError as exc:
            raise _Skip(f"cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        return "dir", real.resolve()
    if stat.S_ISREG(st.st_mode):
        return "file", real
    raise _Skip("not a regular file (a FIFO, socket or device)")


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
    if is_percent_notebook(path):
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
    for path in site_files(settings):
        claims[PurePosixPath(path)].append("the course site")
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
