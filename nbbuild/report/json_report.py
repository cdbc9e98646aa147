"""The JSON build report (``nbbuild build --report PATH``) and its schema.

The schema is ``SCHEMA`` below (JSON Schema, draft 2020-12), documented in
docs/report.md; tests validate every report against it. All times are wall
seconds unless a name says otherwise.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

from nbbuild import __version__
from nbbuild.model import BuildResult, NotebookResult, Status

REPORT_VERSION = 1
PHASES = ("read", "kernel_wait", "execute", "export", "db")

_seconds = {"type": "number", "minimum": 0}
_phase_map = {"type": "object", "additionalProperties": _seconds}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "nbbuild build report",
    "type": "object",
    "required": [
        "report_version", "nbbuild", "created", "course", "out", "workers", "wall_seconds",
        "cpu_seconds", "database_seconds", "kernels_started", "pool_startup_seconds",
        "workers_busy_seconds", "workers_idle_seconds", "worker_utilization", "forked",
        "kernel_strategy", "preload", "kernel_cpu_seconds", "kernel_cpu_per_notebook", "counts",
        "export_wait_seconds", "render_processes", "render_cpu_seconds",
        "throughput", "stage_totals", "stage_efficiency", "slowest_notebooks",
        "slowest_cells", "resources", "notebooks",
    ],
    "properties": {
        "report_version": {"const": REPORT_VERSION},
        "nbbuild": {"type": "string"},
        "created": {"type": "string"},
        "course": {"type": "string"},
        "out": {"type": "string"},
        "workers": {"type": "integer", "minimum": 1},
        "wall_seconds": _seconds,
        "cpu_seconds": _seconds,
        "database_seconds": _seconds,
        "kernels_started": {"type": "integer", "minimum": 0},
        "pool_startup_seconds": _seconds,
        "workers_busy_seconds": _seconds,
        "workers_idle_seconds": _seconds,
        "worker_utilization": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "forked": {"type": "boolean"},
        "kernel_strategy": {"enum": ["fork", "spawn", "mixed", "none"]},
        "kernels_by_start": {"type": "object", "properties": {
            "forked": {"type": "integer", "minimum": 0},
            "spawned": {"type": "integer", "minimum": 0}}},
        "preload": {"type": "array", "items": {"type": "string"}},
        "template_head_start": {"type": "boolean"},
        "kernel_cpu_seconds": _seconds,
        "kernel_cpu_per_notebook": {"type": ["number", "null"], "minimum": 0},
        "export_wait_seconds": _seconds,
        "render_processes": {"type": "integer", "minimum": 0},
        "render_cpu_seconds": _seconds,
        "counts": {
            "type": "object",
            "required": ["notebooks", "built", "failed", "errored", "executed", "rendered",
                         "up_to_date"],
            "additionalProperties": {"type": "integer", "minimum": 0},
        },
        "throughput": _seconds,
        "stage_totals": _phase_map,
        "stage_efficiency": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "slowest_notebooks": {
            "type": "array",
            "items": {"type": "object", "required": ["source", "seconds"],
                      "properties": {"source": {"type": "string"}, "seconds": _seconds}},
        },
        "slowest_cells": {
            "type": "array",
            "items": {"type": "object", "required": ["source", "cell", "seconds"],
                      "properties": {"source": {"type": "string"},
                                     "cell": {"type": "integer", "minimum": 1},
                                     "seconds": _seconds}},
        },
        "resources": {
            "type": "object",
            "required": ["interval_seconds", "samples", "pss_available", "peak_bytes",
                         "kernel_cpu_seconds", "kernels_seen"],
            "properties": {
                "peak_bytes": {
                    "type": "object",
                    "required": ["nbbuild_rss", "nbbuild_pss", "kernels_rss", "kernels_pss"],
                    "additionalProperties": {"type": "integer", "minimum": 0},
                },
                "kernel_cpu_seconds": _seconds,
            },
        },
        "notebooks": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["source", "title", "status", "action", "reasons", "queued_seconds",
                             "total_seconds",
                             "phases", "export_detail", "kernel_startup", "kernel_cpu_seconds",
                             "cells", "outputs",
                             "error", "path", "language", "raised_cells"],
                "properties": {
                    "source": {"type": "string"},
                    "path": {"type": "string"},
                    "language": {"type": ["string", "null"]},
                    "raised_cells": {"type": "array", "items": {"type": "integer"}},
                    "worker": {"type": "string"},
                    "title": {"type": "string"},
                    "status": {"enum": [s.value for s in Status]},
                    "action": {"enum": ["executed", "rendered", "up to date"]},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "queued_seconds": _seconds,
                    "total_seconds": _seconds,
                    "phases": {"type": "object", "propertyNames": {"enum": list(PHASES)},
                               "additionalProperties": _seconds},
                    "export_detail": _phase_map,
                    "kernel_startup": _seconds,
                    "kernel_start": {"enum": ["forked", "spawned", ""]},
                    "kernel_cpu_seconds": {"type": ["number", "null"], "minimum": 0},
                    "cells": {"type": "object", "additionalProperties": _seconds},
                    "outputs": {"type": "object", "additionalProperties": {"type": "string"}},
                    "error": {"type": ["string", "null"]},
                },
            },
        },
    },
}


def _strategy(result: BuildResult) -> str:
    """How the build's kernels were started: by the notebooks' own counts where
    known (a mixed course is "mixed"), else by the pool."""
    starts = {r.kernel_start for r in result.results if r.kernel_start}
    if len(starts) > 1:
        return "mixed"
    if starts:
        return "fork" if starts == {"forked"} else "spawn"
    return "none" if not result.kernels_started else "fork" if result.forked else "spawn"


def build_report(result: BuildResult, *, course: Path, workers: int) -> dict[str, Any]:
    """The report of one build, as plain JSON data."""
    notebooks = [_notebook(r) for r in result.results]
    totals = {phase: sum(n["phases"].get(phase, 0.0) for n in notebooks) for phase in PHASES}
    held = totals["execute"] + totals["kernel_wait"]
    cells = [
        {"source": r.source.key, "cell": index + 1, "seconds": seconds}
        for r in result.results
        for index, seconds in r.cells.items()
    ]
    done = sum(1 for r in result.results if r.action != "up to date")
    # A worker is held while its notebook waits for a kernel and executes; exporting
    # and recording go on while it runs its next one.
    busy = sum(
        r.stages.get("kernel_wait", 0.0) + r.stages["execute"]
        for r in result.results
        if "execute" in r.stages
    )
    capacity = workers * result.execution_span
    measured = [r.kernel_cpu for r in result.results if r.kernel_cpu is not None]
    idle = max(0.0, capacity - busy)
    return {
        "report_version": REPORT_VERSION,
        "nbbuild": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "course": str(course),
        "out": str(result.out),
        "workers": workers,
        "wall_seconds": result.wall_time,
        "cpu_seconds": result.cpu_seconds,
        "database_seconds": result.db_seconds,
        "kernels_started": result.kernels_started,
        "pool_startup_seconds": result.pool_startup,
        "workers_busy_seconds": busy,
        "workers_idle_seconds": idle,
        "worker_utilization": min(1.0, busy / capacity) if capacity > 0 else None,
        "forked": result.forked,
        "kernel_strategy": _strategy(result),
        "kernels_by_start": {
            start: sum(1 for r in result.results if r.kernel_start == start)
            for start in ("forked", "spawned")},
        "preload": list(result.preload),
        "template_head_start": result.template_head_start,
        "kernel_cpu_seconds": sum(measured),
        "kernel_cpu_per_notebook": sum(measured) / len(measured) if measured else None,
        # Seconds executed notebooks waited for a free renderer (thread or process).
        "export_wait_seconds": sum(r.export_detail.get("wait", 0.0) for r in result.results),
        "render_processes": result.render_processes,
        "render_cpu_seconds": result.render_cpu_seconds,
        "counts": {
            "notebooks": len(result.results),
            "built": result.count(Status.BUILT),
            "failed": result.count(Status.FAILED),
            "errored": result.count(Status.ERRORED),
            "executed": result.executed,
            "rendered": sum(1 for r in result.results if r.action == "rendered"),
            "up_to_date": sum(1 for r in result.results if r.action == "up to date"),
        },
        "throughput": done / result.wall_time if result.wall_time > 0 else 0.0,
        "stage_totals": totals,
        # Of the time notebooks held a worker before exporting, the share spent executing
        # rather than waiting for a kernel.
        "stage_efficiency": totals["execute"] / held if held > 0 else None,
        "slowest_notebooks": sorted(
            ({"source": n["source"], "seconds": n["total_seconds"]} for n in notebooks),
            key=lambda n: -n["seconds"],
        )[:5],
        "slowest_cells": sorted(cells, key=lambda c: -c["seconds"])[:5],
        "resources": result.resources or _no_resources(),
        "notebooks": notebooks,
    }


def _notebook(r: NotebookResult) -> dict[str, Any]:
    phases = {k: v for k, v in r.stages.items() if k in PHASES}
    return {
        **({"worker": r.worker} if r.worker else {}),
        "source": r.source.key,
        "path": str(r.source.rel),
        "language": r.source.lang,
        "title": r.title,
        "status": r.status.value,
        "action": r.action,
        "reasons": list(r.reasons),
        "queued_seconds": r.queued,
        "total_seconds": r.stages.get("read", 0.0) + r.seconds,
        "phases": phases,
        "export_detail": dict(r.export_detail),
        "kernel_startup": r.kernel_startup,
        "kernel_start": r.kernel_start,
        "kernel_cpu_seconds": r.kernel_cpu,
        "cells": {str(i + 1): s for i, s in r.cells.items()},
        "outputs": {fmt: str(p) for fmt, p in r.outputs.items()},
        "error": str(r.error) if r.error is not None else None,
        "raised_cells": list(r.raised),
    }


def _no_resources() -> dict[str, Any]:
    peaks = dict.fromkeys(("nbbuild_rss", "nbbuild_pss", "kernels_rss", "kernels_pss"), 0)
    return {"interval_seconds": 0.0, "samples": 0, "pss_available": False,
            "peak_bytes": peaks, "kernel_cpu_seconds": 0.0, "kernels_seen": 0}


def write_report(path: Path, report: dict[str, Any]) -> None:
    from nbbuild.render.outputs import write_atomic

    write_atomic(path, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
