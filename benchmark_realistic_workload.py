#!/usr/bin/env python
"""Benchmark nbbuild against the naive way of building a course, side by side.

The naive way is what a shell loop does today: one ``jupyter nbconvert --execute
--to FMT`` process per notebook and format, ``--parallel`` of them at a time, so
every output pays a process start, a fresh kernel and a full execution. Percent
``.py`` notebooks are first converted to ``.ipynb`` once each with jupytext (nbconvert
cannot read them); that conversion is timed as part of the naive build.

nbbuild runs as its own process (``python -m nbbuild build``), so both sides pay
process start-up. Each round runs both sides on fresh output folders, alternating
which goes first, and the report gives the median of the rounds, plus min/max.

    python benchmark_realistic_workload.py                      # fixtures/course, 3 rounds
    python benchmark_realistic_workload.py --runs 5 --workers 4 --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
FORMATS = {"html": "html", "slides": "slides", "notebook": "notebook"}


def course_notebooks(course: Path) -> list[Path]:
    """The notebooks nbbuild would build, found by nbbuild's own discovery."""
    from nbbuild.config import load_settings
    from nbbuild.discover import discover

    settings = load_settings(course, out=tempfile.mkdtemp(prefix="nbbuild-bench-discover-"))
    return [s.path for s in discover(settings).sources]


def run_naive(course: Path, parallel: int, formats: list[str]) -> float:
    """Build ``course`` the naive way in a scratch copy; return the wall time."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-naive-") as tmp:
        copy = Path(tmp) / "course"
        shutil.copytree(course, copy, ignore=shutil.ignore_patterns("_build", ".*"))
        notebooks = [copy / p.relative_to(course) for p in course_notebooks(course)]
        out = Path(tmp) / "out"
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            converted = list(pool.map(_to_ipynb, notebooks))
            jobs = [(nb, fmt, out / nb.parent.relative_to(copy)) for nb in converted for fmt in formats]
            failures = [f for f in pool.map(_nbconvert, jobs) if f]
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit("naive build failed:\n" + "\n".join(failures))
    return elapsed


def _to_ipynb(path: Path) -> Path:
    if path.suffix != ".py":
        return path
    target = path.with_suffix(".ipynb")
    _run([sys.executable, "-m", "jupytext", "--quiet", "--to", "ipynb", "-o", str(target), str(path)])
    return target


def _nbconvert(job: tuple[Path, str, Path]) -> str:
    notebook, fmt, out_dir = job
    cmd = [
        sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", FORMATS[fmt],
        "--output-dir", str(out_dir), str(notebook),
    ]
    if fmt == "notebook":
        cmd[-1:-1] = ["--output", notebook.stem + ".executed"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    return "" if proc.returncode == 0 else f"{notebook} {fmt}: {proc.stderr[-500:]}"


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")


def run_nbbuild(course: Path, workers: int, formats: list[str]) -> float:
    """One nbbuild process building ``course`` into a fresh folder; the wall time."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-out-") as out:
        cmd = [
            sys.executable, "-m", "nbbuild", "build", str(course), "--out", out,
            "--workers", str(workers), "--formats", ",".join(formats), "-q",
        ]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"nbbuild failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def summarize(times: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "runs": times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=HERE / "fixtures" / "course")
    parser.add_argument("--workers", type=int, default=4, help="nbbuild --workers [4]")
    parser.add_argument("--parallel", type=int, default=4, help="naive processes at once [4]")
    parser.add_argument("--runs", type=int, default=3, help="rounds; the median is reported [3]")
    parser.add_argument("--formats", default="html,slides,notebook")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    n_notebooks = len(course_notebooks(course))

    print(f"course {course} ({n_notebooks} notebooks), formats {','.join(formats)}, "
          f"{os.cpu_count()} CPUs, {args.runs} rounds")
    naive: list[float] = []
    fast: list[float] = []
    for i in range(args.runs):
        order = [("naive", naive), ("nbbuild", fast)]
        if i % 2:
            order.reverse()
        for name, times in order:
            if name == "naive":
                times.append(run_naive(course, args.parallel, formats))
            else:
                times.append(run_nbbuild(course, args.workers, formats))
            print(f"  round {i + 1}: {name:8} {times[-1]:6.2f} s", flush=True)

    result = {
        "course": str(course),
        "notebooks": n_notebooks,
        "formats": formats,
        "cpus": os.cpu_count(),
        "naive": {"parallel": args.parallel, **summarize(naive)},
        "nbbuild": {"workers": args.workers, **summarize(fast)},
        "speedup_median": statistics.median(naive) / statistics.median(fast),
    }
    print()
    print("| build | processes at once | median wall (s) | min | max |")
    print("|---|---|---|---|---|")
    print(f"| naive nbconvert loop | {args.parallel} | {result['naive']['median']:.2f} | "
          f"{result['naive']['min']:.2f} | {result['naive']['max']:.2f} |")
    print(f"| nbbuild --workers {args.workers} | 1 | {result['nbbuild']['median']:.2f} | "
          f"{result['nbbuild']['min']:.2f} | {result['nbbuild']['max']:.2f} |")
    print(f"\nspeed-up (median naive / median nbbuild): {result['speedup_median']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
