"""Writing into the output folder: atomic files and course assets.

No reader ever sees a half-written output: each file is written to a temporary
name in its destination folder and renamed over the target.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".nbbuild-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def copy_assets(
    course: Path, out: Path, assets: Iterable[PurePosixPath]
) -> tuple[list[PurePosixPath], list[str]]:
    """Mirror the course's other files (images, data) so relative links work.

    A file whose size and modification time already match is left alone. One file
    that cannot be copied (gone, unreadable) is reported and the others are still
    copied. Returns the files now in place (copied or already there) and a
    message per file that could not be copied.
    """
    present: list[PurePosixPath] = []
    problems: list[str] = []
    for rel in assets:
        try:
            _copy_one(course / rel, out / rel)
        except OSError as exc:
            problems.append(f"{rel}: not copied ({exc.strerror or exc})")
            continue
        present.append(rel)
    return present, problems


def _copy_one(src: Path, dst: Path) -> None:
    st = src.stat()
    try:
        dt = dst.stat()
        if dt.st_size == st.st_size and dt.st_mtime_ns == st.st_mtime_ns:
            return
    except FileNotFoundError:
        pass
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=".nbbuild-", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
