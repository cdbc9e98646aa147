"""The exceptions nbbuild raises, as one tree.

::

    NbbuildError
     ├── ConfigError              bad nbbuild.toml / [tool.nbbuild] / option value
     ├── DiscoveryError           the course folder cannot be planned
     │    └── ConflictingOutputsError  two sources would write the same output
     ├── OutputError              the output folder cannot be created
     ├── BuildInterrupted         Ctrl-C or SIGTERM during a build
     └── NotebookError            one notebook could not be built; the build goes on
          ├── SourceError         unreadable or invalid source file      -> ERRORED
          ├── UnknownKernelError  kernelspec not installed               -> ERRORED
          ├── KernelDiedError     kernel died or failed to start         -> ERRORED
          ├── CellError           a cell raised or timed out             -> FAILED
          └── BudgetError         over a strict time budget              -> FAILED

Every exception carries plain attributes only (paths as strings, numbers), so it
pickles and can cross a process boundary unchanged.
"""

from __future__ import annotations


class NbbuildError(Exception):
    """Base of every error nbbuild raises on purpose."""


class ConfigError(NbbuildError):
    """A setting is unknown or has the wrong type or value."""


class DiscoveryError(NbbuildError):
    """The course folder cannot be turned into a list of notebooks."""


class ConflictingOutputsError(DiscoveryError):
    """Two sources (say ``a.py`` and ``a.ipynb``) map to the same output file."""


class OutputError(NbbuildError):
    """The output folder cannot be created or written at all."""


class BuildInterrupted(NbbuildError):
    """The build was stopped by Ctrl-C or SIGTERM."""


class NotebookError(NbbuildError):
    """One notebook could not be built. ``path`` is relative to the course."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (type(self), (self.path, self.message))


class SourceError(NotebookError):
    """The source file is missing, not UTF-8, not JSON, or not a valid notebook."""


class UnknownKernelError(NotebookError):
    """The notebook asks for a kernelspec that is not installed."""


class KernelDiedError(NotebookError):
    """The kernel died (or never became ready) while the notebook ran."""


class CellError(NotebookError):
    """A cell raised an exception or exceeded its timeout.

    ``cell`` is the 1-based position of the cell in the notebook; ``line`` is the
    line in the source file for percent ``.py`` notebooks (else the line within the
    cell), when it can be told; ``traceback`` is plain text without ANSI colours;
    ``timed_out`` says the cell was stopped at its time limit (its kernel is busy).
    """

    def __init__(
        self,
        path: str,
        message: str,
        *,
        cell: int,
        line: int | None = None,
        ename: str = "",
        evalue: str = "",
        traceback: str = "",
        timed_out: bool = False,
    ) -> None:
        super().__init__(path, message)
        self.timed_out = timed_out
        self.cell = cell
        self.line = line
        self.ename = ename
        self.evalue = evalue
        self.traceback = traceback

    def __reduce__(self):  # type: ignore[no-untyped-def]
        kwargs = dict(
            cell=self.cell,
            line=self.line,
            ename=self.ename,
            evalue=self.evalue,
            traceback=self.traceback,
            timed_out=self.timed_out,
        )
        return (_rebuild_cell_error, (self.path, self.message, kwargs))


def _rebuild_cell_error(path: str, message: str, kwargs: dict) -> CellError:
    return CellError(path, message, **kwargs)


class BudgetError(NotebookError):
    """The notebook's execution took longer than its strict time budget."""
