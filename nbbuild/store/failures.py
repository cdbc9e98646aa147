"""A failed execution, kept so that an unchanged failing notebook is not run again.

Third-party courses often carry notebooks that fail (a missing data set, an API
that changed); running each again on every build cost minutes for nothing. The
failure is stored like an execution (what its cells printed up to the failing
one, and the files it read), but under a key of its own, ``failed:<execution
key>``, so no decision can ever take it for a successful execution. With the
error and when it happened, a later build reports it, and renders it under the
banner, without a kernel. ``--retry-failed``, or any change to what the
execution key covers or to a file it read, runs it again. Errors of the
machinery (a kernel that died, an unknown kernel) are never kept: they are
always retried.
"""

from __future__ import annotations

import time
from typing import Any

from nbbuild.errors import BudgetError, CellError, NotebookError


def failed_key(exec_key: str) -> str:
    """Where a failure of execution ``exec_key`` is kept, apart from successes."""
    return f"failed:{exec_key}"


def kept(error: NotebookError | None) -> bool:
    """Whether a failure is the notebook's own, and so worth keeping."""
    return isinstance(error, (CellError, BudgetError))


def failure_of(error: NotebookError) -> dict[str, Any]:
    """The error as stored beside the failed execution's outputs."""
    found: dict[str, Any] = {"kind": type(error).__name__, "path": error.path,
                             "message": error.message, "at": time.time()}
    if isinstance(error, CellError):
        found.update(cell=error.cell, line=error.line, ename=error.ename, evalue=error.evalue,
                     traceback=error.traceback, timed_out=error.timed_out)
    return found


def error_of(failure: dict[str, Any]) -> NotebookError:
    """The error again, as the build that ran it reported it."""
    if failure.get("kind") == "CellError":
        return CellError(failure["path"], failure["message"], cell=failure.get("cell", 0),
                         line=failure.get("line"), ename=failure.get("ename", ""),
                         evalue=failure.get("evalue", ""),
                         traceback=failure.get("traceback", ""),
                         timed_out=failure.get("timed_out", False))
    return BudgetError(failure["path"], failure["message"])


def since(failure: dict[str, Any]) -> str:
    """When it failed, for "failed (unchanged since ...)"."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(failure.get("at", 0)))
