"""Writing into the output folder: atomic files, course assets, the index page.

No reader ever sees a half-written output: each file is written to a temporary
name in its destination folder and renamed over the target.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from nbbuild.model import NotebookResult, Status
from nbbuild.render.layout import INDEX, split_key


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


def write_index(out: Path, title: str, results: Sequence[NotebookResult]) -> Path:
    """``index.html``: every notebook in course order, linking its outputs."""
    rows = []
    folder = None
    for result in results:
        parent = result.source.rel.parent
        if parent != folder:
            folder = parent
            label = "" if str(parent) == "." else str(parent)
            if label:
                rows.append(f'<tr class="folder"><th colspan="3">{html.escape(label)}/</th></tr>')
        rows.append(_index_row(out, result))
    page = _INDEX_TEMPLATE.format(title=html.escape(title), rows="\n".join(rows))
    path = out / INDEX
    write_atomic(path, page.encode("utf-8"))
    return path


_LABELS = {"html": "page", "slides": "slides", "notebook": "notebook", "code": "code"}


def _index_row(out: Path, result: NotebookResult) -> str:
    name = html.escape(result.title or result.source.stem.name)
    src = html.escape(result.source.key)
    by_edition: dict[str | None, list[str]] = {}
    page = None
    for key, path in result.outputs.items():
        edition, fmt = split_key(key)
        href = html.escape(path.relative_to(out).as_posix(), quote=True)
        by_edition.setdefault(edition, []).append(
            f'<a class="{fmt}" href="{href}">{_LABELS[fmt]}</a>')
        if fmt == "html" and page is None:
            page = href
    if page is not None:
        name = f'<a class="title" href="{page}">{name}</a>'
    links = "<br>".join(
        (f'<span class="edition">{html.escape(edition)}:</span> ' if edition else "")
        + " · ".join(found)
        for edition, found in by_edition.items()
    )
    status = result.status.value
    cls = "ok" if result.status is Status.BUILT else "bad"
    return (
        f'<tr><td>{name}<div class="src">{src}</div></td>'
        f'<td>{links}</td><td class="{cls}">{status}</td></tr>'
    )


_INDEX_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ padding: .4rem .6rem; border-bottom: 1px solid #ddd; text-align: left; vertical-align: top; }}
tr.folder th {{ background: #f4f4f4; font-family: monospace; }}
.src {{ color: #777; font-size: .8rem; font-family: monospace; }}
.edition {{ color: #555; font-size: .85rem; }}
.ok {{ color: #2a7a2a; }} .bad {{ color: #b00020; font-weight: bold; }}
</style>
</head>
<body>
<h1>{title}</h1>
<table>
<thead><tr><th>Notebook</th><th>Outputs</th><th>Status</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
<p><small>Built by nbbuild.</small></p>
</body>
</html>
"""
