"""The output folder is nbbuild's alone: placed safely, owned by one course, locked,
and with a list of every file nbbuild wrote there.

An output folder that is the course, holds it, or lies inside it among the course's
own files would have nbbuild overwrite (and ``clean`` delete) the author's work; a
folder of the user's that is not empty may hold files with the names of outputs.
Both are refused before anything is written. The marker file
(``.nbbuild-output``) says which course owns the folder, and is also the lock that
keeps two builds from writing the same folder at once. The manifest
(``.nbbuild-files``) lists every file nbbuild wrote; ``clean`` removes exactly
those, then the folders left empty, and never a whole folder.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import IO

from nbbuild.errors import OutputError
from nbbuild.render.layout import MARKER
from nbbuild.store.lock import wait_for_lock

MANIFEST = ".nbbuild-files"
_FORMAT = 1


class OutputFolder:
    """One build's hold on its output folder. Claim it with ``claim``; ``release``
    saves the list of files written and frees the lock (idempotent)."""

    def __init__(self, out: Path, course: Path, *, overwrite: bool = False) -> None:
        self.out = out
        self.course = course
        self.overwrite = overwrite
        #: Files nbbuild wrote here, in this build or an earlier one (relative, '/').
        self.recorded: set[str] = set()
        self._saved: frozenset[str] = frozenset()
        self._lock: IO[str] | None = None
        #: Broken links as last found, by source (store key) or ``""`` for those
        #: found in the built pages: a build that renders nothing keeps them.
        self.broken_links: dict[str, list[str]] = {}
        #: Whether this build wrote or removed an output (the index and unchanged
        #: course files aside): the links of the pages must be checked again.
        self.touched = False

    @classmethod
    def claim(
        cls, out: Path, course: Path, *, overwrite: bool = False, wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
    ) -> OutputFolder:
        """Check where ``out`` lies, lock it and take it for ``course``; raise
        ``OutputError`` (exit 2) when it is not nbbuild's to write."""
        folder = cls(out, course, overwrite=overwrite)
        folder._claim(wait, on_wait)
        return folder

    def _claim(self, wait: bool, on_wait: Callable[[str], None] | None) -> None:
        check_placement(self.out, self.course)
        marker = self.out / MARKER
        if not marker.is_file():
            self._refuse_foreign_content()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            fd = os.open(marker, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError as exc:
            raise OutputError(
                f"{self.out}: cannot create the output folder ({exc.strerror})") from None
        lock = os.fdopen(fd, "r+")
        try:
            wait_for_lock(
                lock, wait=wait, on_wait=on_wait,
                busy=lambda: f"another build is writing to {self.out}",
                waiting=lambda: f"waiting for another build writing to {self.out} to finish")
            self._take(lock)
        except BaseException:
            lock.close()
            raise
        self._lock = lock
        self.recorded = self._read_manifest()
        self._saved = self._state()

    def _refuse_foreign_content(self) -> None:
        """A folder nbbuild did not make must be new or empty (or ``overwrite``)."""
        try:
            entries = sorted(p.name for p in self.out.iterdir())
        except FileNotFoundError:
            return
        except OSError as exc:
            raise OutputError(
                f"{self.out}: cannot create the output folder ({exc.strerror})") from None
        if not entries:
            return
        if self.out.resolve().is_relative_to(self.course.resolve()):
            raise OutputError(
                f"{self.out} lies inside the course and holds its files ({_some(entries)}); "
                "outputs must go to a folder of their own (the default is COURSE/_build)")
        if not self.overwrite:
            raise OutputError(
                f"{self.out} is not empty ({_some(entries)}) and was not made by nbbuild; "
                "choose a new or empty folder, or pass --out-overwrite to build into it "
                "anyway (files with the names of outputs are then replaced; nothing else "
                "is touched)")

    def _take(self, lock: IO[str]) -> None:
        """Read who owns the folder; write this course's name when nobody does."""
        lock.seek(0)
        text = lock.read()
        owner = _owner(text)
        course = str(self.course.resolve())
        if owner is not None and owner != course and not self.overwrite:
            raise OutputError(
                f"{self.out} holds the outputs of another course ({owner}); give each "
                "course its own output folder (or pass --out-overwrite to take it over)")
        if owner == course:
            return
        legacy = bool(text.strip()) and owner is None
        lock.seek(0)
        lock.truncate()
        lock.write(json.dumps({"nbbuild": _FORMAT, "course": course}) + "\n")
        lock.flush()
        if legacy:  # made by an nbbuild that kept no list: all of it was written by it
            self.recorded = set(_files_under(self.out))
            self._saved = (frozenset(), "")
            self.save()

    def _read_manifest(self) -> set[str]:
        recorded = set(self.recorded)
        try:
            data = json.loads((self.out / MANIFEST).read_text("utf-8"))
            recorded.update(p for p in data.get("files", []) if isinstance(p, str))
            links = data.get("broken_links", {})
            self.broken_links = {str(k): [str(m) for m in v] for k, v in links.items()}
        except (OSError, ValueError, AttributeError):
            pass
        return recorded

    def _state(self) -> tuple[frozenset[str], str]:
        return frozenset(self.recorded), json.dumps(self.broken_links, sort_keys=True)

    # -- during the build -----------------------------------------------------------

    def _rel(self, path: Path | PurePosixPath | str) -> str | None:
        """``path`` (absolute under ``out``, or relative to it) as a listed name."""
        rel = Path(path)
        if rel.is_absolute():
            try:
                rel = rel.relative_to(self.out)
            except ValueError:
                return None
        return rel.as_posix()

    def wrote(self, paths: Iterable[Path | PurePosixPath | str]) -> None:
        """Note files written (absolute under ``out``, or relative to it)."""
        self.recorded.update(rel for rel in map(self._rel, paths) if rel is not None)

    def owns(self, path: Path | PurePosixPath) -> bool:
        """Whether nbbuild wrote ``path`` (absolute under ``out``, or relative)."""
        return self._rel(path) in self.recorded

    def remove(self, paths: Iterable[Path | PurePosixPath]) -> None:
        """Delete outputs nbbuild wrote (a failed or deleted notebook's); any other
        file at those paths is left alone."""
        for rel in map(self._rel, paths):
            if rel is None or rel not in self.recorded:
                continue
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                (self.out / rel).unlink()
                self.touched = True
            self.recorded.discard(rel)

    def save(self) -> None:
        """Write the list of files written, when it changed (a no-op build does not)."""
        if self._state() == self._saved:
            return
        from nbbuild.render.outputs import write_atomic

        data = {"nbbuild": _FORMAT, "files": sorted(self.recorded),
                "broken_links": self.broken_links}
        write_atomic(self.out / MANIFEST, json.dumps(data, indent=0).encode("utf-8"))
        self._saved = self._state()

    def release(self) -> None:
        lock, self._lock = self._lock, None
        if lock is None:
            return
        try:
            self.save()
        finally:
            lock.close()  # closing releases the lock

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # -- clean ------------------------------------------------------------------------

    def clean(self) -> tuple[int, list[str]]:
        """Remove every file nbbuild wrote, then the folders left empty, then its own
        marker files (and the lock with them). Returns how many files went, and what
        was left (not nbbuild's)."""
        removed = len(self._delete(set(self.recorded)))
        (self.out / MANIFEST).unlink(missing_ok=True)
        self.broken_links = {}
        self._saved = self._state()
        # The folder goes back to what it was: the user's (with what is left), or gone.
        lock, self._lock = self._lock, None
        (self.out / MARKER).unlink(missing_ok=True)
        if lock is not None:
            lock.close()
        left = sorted(p.name for p in self.out.iterdir())
        if not left:
            with contextlib.suppress(OSError):
                self.out.rmdir()
        return removed, left


    # -- stale files ----------------------------------------------------------------------

    def prune(self, produced: set[str]) -> list[str]:
        """Remove the files nbbuild wrote that this build does not produce (outputs of
        deleted or renamed lectures, copies of deleted course files, dropped formats),
        then the folders that leaves empty. Files nbbuild did not write stay."""
        return self._delete(self.recorded - produced)

    def _delete(self, rels: set[str]) -> list[str]:
        """Delete recorded files, then their folders left empty; what went."""
        gone = []
        folders: set[Path] = set()
        for rel in sorted(rels):
            path = self.out / rel
            self.recorded.discard(rel)
            if not _inside(path, self.out):
                continue
            try:
                path.unlink()
                gone.append(rel)
                self.touched = True
            except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
                pass
            folders.update(p for p in path.parents if _inside(p, self.out) and p != self.out)
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
        return gone


def check_placement(out: Path, course: Path) -> None:
    """Refuse an output folder that is the course or holds it (exit 2)."""
    out_r, course_r = out.resolve(), course.resolve()
    if out_r == course_r:
        raise OutputError(
            f"the output folder {out} is the course itself: outputs would overwrite the "
            "sources; use a folder of its own (the default is COURSE/_build)")
    if course_r.is_relative_to(out_r):
        raise OutputError(
            f"the output folder {out} contains the course {course}: outputs and `clean` "
            "would touch the course and its neighbours; use a folder of its own")


def _owner(text: str) -> str | None:
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data.get("course") if isinstance(data, dict) else None


def _files_under(out: Path) -> Iterable[str]:
    for dirpath, _dirs, files in os.walk(out):
        for name in files:
            if name in (MARKER, MANIFEST):
                continue
            yield (Path(dirpath) / name).relative_to(out).as_posix()


def _inside(path: Path, out: Path) -> bool:
    return ".." not in Path(os.path.relpath(path, out)).parts


def _some(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")
