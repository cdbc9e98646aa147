"""Which course files a notebook read: an audit hook installed in its kernel.

When a kernel is ready, before any notebook takes it, the pool runs a silent
execution that installs ``sys.addaudithook`` in it (``KernelPool(setup_code=...)``);
a forked kernel runs the same code itself, just before it becomes a kernel.
The hook sees every ``open`` (``open()``, ``io.open_code`` for imports,
``os.open``) and keeps the real paths under the course folder, as reads or
writes. After the last cell, a silent request (``execute.tracked_files``)
collects them, together with the modules in ``sys.modules`` whose file is under
the course (imports served from ``__pycache__`` are mapped back to their
``.py``). A path is resolved (symlinks followed) only if, as written, it lies
under the course, by its real or its given path; a file reached through a
symlink placed outside the course is not seen. Files the notebook wrote are its
outputs, not its dependencies. The hook leaves one trace a notebook could see: a
module named ``_nbbuild_tracker`` in ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

MODULE = "_nbbuild_tracker"

_INSTALL = r'''
def _nbbuild_install(root):
    import os, sys, types
    given = os.path.abspath(root) + os.sep
    root = os.path.realpath(root) + os.sep
    reads, writes = set(), set()

    def inside(path):
        # realpath costs a system call per path component: resolve only paths
        # that, as written, are under the course (by its real or given path).
        path = os.path.abspath(path)
        if not (path.startswith(root) or path.startswith(given)):
            return None
        real = os.path.realpath(path)
        return real if real.startswith(root) else None
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event, args):
        if event != "open":
            return
        try:
            path, mode, flags = (list(args) + [None, None])[:3]
            if isinstance(path, int) or path is None:
                return
            real = inside(os.fsdecode(path))
            if real is None:
                return
            if mode is None:
                writing = bool((flags or 0) & write_flags)
            else:
                writing = any(c in str(mode) for c in "wax+")
            (writes if writing else reads).add(real)
        except Exception:
            pass

    def report():
        found = set(reads)
        for module in list(sys.modules.values()):
            file = getattr(module, "__file__", None)
            real = inside(file) if isinstance(file, str) else None
            if real is not None:
                found.add(real)
        return __import__("json").dumps({"reads": sorted(found), "writes": sorted(writes)})

    tracker = types.ModuleType("%s")
    tracker.report = report
    sys.modules["%s"] = tracker
    sys.addaudithook(hook)

_nbbuild_install(%r)
del _nbbuild_install
''' 


def install_code(root: Path) -> str:
    """Code that installs the hook for files under ``root`` (run silently)."""
    return _INSTALL % (MODULE, MODULE, str(root))


REPORT_EXPRESSION = f"__import__({MODULE!r}).report()"


def parse_report(user_expressions: dict[str, Any], root: Path) -> tuple[set[str], set[str]]:
    """``(read, written)`` course-relative POSIX paths from the kernel's answer."""
    value = user_expressions.get("deps", {})
    if value.get("status") != "ok":
        return set(), set()
    raw = json.loads(ast.literal_eval(value["data"]["text/plain"]))
    root = root.resolve()
    return _relative(raw["reads"], root), _relative(raw["writes"], root)


def _relative(paths: list[str], root: Path) -> set[str]:
    found = set()
    for text in paths:
        path = Path(text)
        if path.parent.name == "__pycache__" and path.suffix == ".pyc":
            path = path.parent.parent / (path.name.split(".", 1)[0] + ".py")
        try:
            found.add(path.relative_to(root).as_posix())
        except ValueError:
            continue
    return found
