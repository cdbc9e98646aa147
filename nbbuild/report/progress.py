"""Reporters: how a build shows its progress. The pipeline only calls hooks.

* ``RichReporter``: a live display (done/total, the notebooks running now with
  their elapsed time) on a terminal.
* ``PlainReporter``: one line per finished notebook, for logs and CI.
* ``quiet=True``: failures only.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Protocol, TextIO

from nbbuild.errors import CellError
from nbbuild.model import BuildResult, NotebookResult, Source, Status

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console


class Reporter(Protocol):
    def warning(self, text: str) -> None: ...
    def build_started(self, total: int, workers: int) -> None: ...
    def notebook_started(self, source: Source) -> None: ...
    def notebook_finished(self, result: NotebookResult) -> None: ...
    def build_finished(self, result: BuildResult) -> None: ...


class NullReporter:
    """Reports nothing; the base of the others."""

    def warning(self, text: str) -> None:
        pass

    def build_started(self, total: int, workers: int) -> None:
        pass

    def notebook_started(self, source: Source) -> None:
        pass

    def notebook_finished(self, result: NotebookResult) -> None:
        pass

    def build_finished(self, result: BuildResult) -> None:
        pass


def describe_failure(result: NotebookResult, *, traceback_lines: int = 25) -> str:
    """``FAILED path: cell N, line L raised E: msg`` and the end of the traceback."""
    label = result.status.value.upper()
    text = f"{label} {_clip(str(result.error), MAX_MESSAGE_CHARS)}"
    if result.action == "up to date":  # a kept failure: say so rather than repeat it
        when = "; ".join(result.reasons) or "failed, unchanged"
        return f"{text}\n    ({when}; --retry-failed runs it again)"
    if isinstance(result.error, CellError) and result.error.traceback:
        tb = _traceback_tail(result.error.traceback, traceback_lines)
        text += "\n" + "\n".join("    " + line for line in tb)
    return text


#: A failure's message and each traceback line are cut to this many characters
#: on the console (a cell may raise with a message of megabytes).
MAX_MESSAGE_CHARS = 2000
MAX_LINE_CHARS = 500


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


def _traceback_tail(traceback: str, limit: int) -> list[str]:
    lines = [_clip(line, MAX_LINE_CHARS) for line in traceback.rstrip().splitlines()[-limit - 1:]]
    if len(lines) > limit:
        lines = ["...", *lines[-limit:]]
    return lines


def _raised(result: NotebookResult) -> str:
    """``2 cells raised (allowed): 3, 5``."""
    cells = result.raised
    return (f"{plural(len(cells), 'cell')} raised (allowed): "
            f"{', '.join(map(str, cells))}")


def allowed_errors_line(result: BuildResult) -> str | None:
    """``3 cells raised, allowed: a.ipynb (cells 2, 3), b.py (cell 4)`` for the
    notebooks this build executed or rendered; None when no cell raised."""
    shown = [r for r in result.results if r.ok and r.raised]
    if not shown:
        return None
    total = sum(len(r.raised) for r in shown)
    where = ", ".join(
        f"{r.source} ({'cells' if len(r.raised) > 1 else 'cell'} {', '.join(map(str, r.raised))})"
        for r in shown[:10])
    more = f" and {len(shown) - 10} more notebooks" if len(shown) > 10 else ""
    return f"{plural(total, 'cell')} raised, allowed: {where}{more}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summary_line(result: BuildResult) -> str:
    total = len(result.results)
    built = result.count(Status.BUILT)
    how = [
        f"{sum(1 for r in result.results if r.ok and r.action == action)} {label}"
        for action, label in (("executed", "executed"), ("rendered", "re-rendered"),
                              ("up to date", "up to date"))
    ]
    parts = [f"{built} built ({', '.join(how)})"]
    for status in (Status.FAILED, Status.ERRORED):
        if result.count(status):
            parts.append(f"{result.count(status)} {status.value}")
    unchanged = sum(1 for r in result.results if not r.ok and r.action == "up to date")
    if unchanged:
        parts[-1 if not result.count(Status.ERRORED) else -2] += f" ({unchanged} unchanged)"
    where = result.index or result.out
    return (
        f"{plural(total, 'notebook')}: {', '.join(parts)} in {result.wall_time:.1f} s "
        f"(database {result.db_seconds * 1000:.0f} ms) -> {where}"
    )


class PlainReporter(NullReporter):
    """A line per finished notebook; failures with their traceback; a summary."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.total = 0
        self.done = 0

    def _print(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def warning(self, text: str) -> None:
        self._print(f"warning: {text}")

    def build_started(self, total: int, workers: int) -> None:
        self.total = total
        self.done = 0
        if not self.quiet:
            self._print(f"building {plural(total, 'notebook')} with {plural(workers, 'worker')}")

    def notebook_finished(self, result: NotebookResult) -> None:
        self.done += 1
        if not result.ok:
            self._print(describe_failure(result))
        elif not self.quiet and result.action != "up to date":
            verb = "built" if result.action == "executed" else "re-rendered"
            why = f": {'; '.join(result.reasons)}" if result.reasons else ""
            if result.raised:
                why += f"; {_raised(result)}"
            self._print(
                f"[{self.done}/{self.total}] {verb} {result.source} "
                f"({result.seconds:.1f} s{why})"
            )

    def build_finished(self, result: BuildResult) -> None:
        if not self.quiet:
            _print_summary(self._print, result)


def time_summary(result: BuildResult) -> list[str]:
    """Where the time went: phase totals, kernels, memory, the slowest notebooks."""
    report = result.report
    if not report or not report["counts"]["executed"] + report["counts"]["rendered"]:
        return []
    t = report["stage_totals"]
    phases = " · ".join(
        f"{label} {t[key]:.1f} s"
        for key, label in (("read", "read"), ("kernel_wait", "kernel wait"),
                           ("execute", "execute"), ("export", "export"), ("db", "database"))
    )
    res = report["resources"]
    peak = res["peak_bytes"]
    memory = "PSS" if res["pss_available"] else "RSS"
    kind = "pss" if res["pss_available"] else "rss"
    wait = report["export_wait_seconds"]
    if wait >= 0.05:
        phases = phases.replace(" · database", f" (of which waiting for a renderer {wait:.1f} s)"
                                " · database", 1)
    lines = [
        f"where the time went (summed over notebooks): {phases}",
        f"kernels: {report['kernels_started']} started"
        + _starts(report)
        + (f", preloading {', '.join(report['preload'])}" if report["preload"] else "")
        + f" · CPU: nbbuild {report['cpu_seconds']:.1f} s, kernels "
        f"{report['kernel_cpu_seconds']:.1f} s"
        + (f" ({1000 * per:.0f} ms each)" if (per := report["kernel_cpu_per_notebook"]) else "")
        + (f", {n} render processes {report['render_cpu_seconds']:.1f} s"
           if (n := report["render_processes"]) else "")
        + f" · peak {memory}: nbbuild "
        f"{peak[f'nbbuild_{kind}'] / 2**20:.0f} MiB, kernels {peak[f'kernels_{kind}'] / 2**20:.0f} MiB",
    ]
    slow = [n for n in report["slowest_notebooks"] if n["seconds"] > 0][:3]
    if slow:
        lines.append("slowest: " + ", ".join(f"{n['source']} {n['seconds']:.1f} s" for n in slow))
    return lines


def _print_summary(emit, result: BuildResult) -> None:
    bad = [r for r in result.results if not r.ok]
    if bad:
        emit("not built:")
        for r in bad:
            first = str(r.error).splitlines()[0] if r.error else ""
            emit(f"  {r.status.value.upper():8} {first}")
    for line in time_summary(result):
        emit(line)
    emit(summary_line(result))
    allowed = allowed_errors_line(result)
    if allowed:
        emit(f"{result.count(Status.BUILT)} built; {allowed}")


class RichReporter(NullReporter):
    """A live display of progress and the notebooks running now."""

    def __init__(self, console: Console | None = None) -> None:
        from rich.console import Console

        self.console = console or Console()
        self.running: dict[Source, float] = {}
        self.total = 0
        self.done = 0
        self._live = None

    def warning(self, text: str) -> None:
        self.console.print(f"warning: {text}", style="yellow", markup=False, highlight=False)

    def build_started(self, total: int, workers: int) -> None:
        from rich.live import Live

        self.total = total
        self.console.print(f"building {plural(total, 'notebook')} with {plural(workers, 'worker')}")
        self._live = Live(self, console=self.console, refresh_per_second=4, transient=True)
        self._live.start()

    def notebook_started(self, source: Source) -> None:
        self.running[source] = time.perf_counter()

    def notebook_finished(self, result: NotebookResult) -> None:
        self.running.pop(result.source, None)
        self.done += 1
        if not result.ok:
            self.console.print(describe_failure(result), style="red", markup=False, highlight=False)

    def build_finished(self, result: BuildResult) -> None:
        self.stop()
        _print_summary(lambda text: self.console.print(text, markup=False, highlight=False), result)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __rich__(self):
        from rich.table import Table

        table = Table.grid(padding=(0, 2))
        width = 30
        filled = int(width * self.done / self.total) if self.total else width
        table.add_row(f"[bold]{self.done}/{self.total}[/]", "█" * filled + "░" * (width - filled))
        now = time.perf_counter()
        for source, started in list(self.running.items()):
            table.add_row(f"{now - started:5.1f} s", source.key)
        return table


def _starts(report: dict) -> str:
    """" (forked)", " (spawned)", or " (3 forked, 2 spawned)" for a mixed course."""
    by = report.get("kernels_by_start") or {}
    if by.get("forked") and by.get("spawned"):
        return f" ({by['forked']} forked, {by['spawned']} spawned)"
    if by.get("spawned"):
        return " (spawned)"
    return " (forked)" if report["forked"] else ""
