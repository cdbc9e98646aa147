#!/usr/bin/env python
"""Benchmark nbbuild against the naive way of building a course, side by side.

The naive way is what a shell loop does today: one ``jupyter nbconvert --execute
--to FMT`` process per notebook and format, ``--parallel`` of them at a time, so
every output pays a process start, a fresh kernel and a full execution. Percent
``.py`` notebooks are first converted to ``.ipynb`` once each with jupytext (nbconvert
cannot read them); that conversion is timed as part of the naive build.

nbbuild runs as its own process (``python -m nbbuild build``), so both sides pay
process start-up, into a fresh output folder every time, in two settings:

* first build: an empty store (``--cache-dir`` in a fresh folder), so notebooks
  run in course order, as on the very first build of a course;
* rebuild: the store kept from earlier builds (primed by one unmeasured build),
  so the longest notebooks start first; ``--force``, so every notebook is still
  executed (without it the cache would re-render from stored executions);
* first build, --no-fork: kernels started the usual way instead of forked from
  a warm template, to show what forking buys.

Each round runs all three, rotating which goes first, and the report gives the
median of the rounds, plus min/max.

    python benchmark_realistic_workload.py                      # fixtures/course, 3 rounds
    python benchmark_realistic_workload.py --runs 5 --workers 4 --json results.json

Other modes (docs/performance.md has their results):

    python benchmark_realistic_workload.py --matrix [--quick]   # 1/2/4/8 workers, naive, wait-bound
    python benchmark_realistic_workload.py --noop 1000          # no-op builds of 1,000 notebooks
    python benchmark_realistic_workload.py --forking --runs 5   # forked vs spawned kernels
    python benchmark_realistic_workload.py --preload --runs 5   # needs pip install -e '.[bench]'
    python benchmark_realistic_workload.py --editions --runs 5 --workers 2  # editions vs one build each
    python benchmark_realistic_workload.py --watch --workers 2  # watch --serve: save to reload
    python benchmark_realistic_workload.py --cluster --runs 5   # Dask cluster vs local pool
    python benchmark_realistic_workload.py --against a670d25 --runs 7  # this tree vs a commit
    python benchmark_realistic_workload.py --against 00680cb --cold --runs 5 --course OLD  # cold
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
    from nbbuild.course.discover import discover

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


#: Naive jobs that failed and were run again, with the reason; see _nbconvert.
NAIVE_RETRIES: list[str] = []


def _nbconvert(job: tuple[Path, str, Path]) -> str:
    """One `jupyter nbconvert --execute` process. Concurrent nbconvert processes
    pick TCP ports independently and sometimes collide ("Kernel died before
    replying to kernel_info"); a user of the loop would run the job again, so the
    benchmark does too (twice at most), and the retry's time counts."""
    notebook, fmt, out_dir = job
    cmd = [
        sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", FORMATS[fmt],
        "--output-dir", str(out_dir), str(notebook),
    ]
    if fmt == "notebook":
        cmd[-1:-1] = ["--output", notebook.stem + ".executed"]
    for _ in range(3):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode == 0:
            return ""
        reason = (proc.stderr.strip().splitlines() or ["?"])[-1]
        NAIVE_RETRIES.append(f"{notebook.name} {fmt}: {reason}")
    return f"{notebook} {fmt}: {proc.stderr[-800:]}"


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")


def run_nbbuild(
    course: Path, workers: int, formats: list[str], cache_dir: Path | None, *extra: str
) -> float:
    """One nbbuild process building ``course`` into a fresh folder; the wall time.

    ``cache_dir`` None means a fresh, empty store (a first build)."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-out-") as tmp:
        store = cache_dir or Path(tmp) / "store"
        return _timed_build(course, Path(tmp) / "site", store, workers, None,
                            "--formats", ",".join(formats), *extra)


def generate_course(root: Path, count: int, seed: int = 7) -> Path:
    """A course of ``count`` small, distinct notebooks in folders of 50, half
    ``.ipynb`` and half percent ``.py``, reproducible from ``seed``."""
    import random

    rng = random.Random(seed)
    for i in range(count):
        n = rng.randint(2, 40)
        _write_lecture(root / f"part-{i // 50:02d}" / f"{i:04d}-lecture", [
            ("markdown", f"# Lecture {i}: sums to {n}"),
            ("code", f"total = sum(range({n}))\nprint(total)"),
        ], as_py=bool(i % 2))
    return root


#: Kinds of lecture in a generated mixed course, with their share of it.
MIXED_KINDS = (("markdown", 0.25), ("light", 0.25), ("numpy", 0.15), ("plot", 0.15),
               ("cpu", 0.10), ("wait", 0.10))


def generate_mixed_course(root: Path, count: int, seed: int = 2026,
                          preload: tuple[str, ...] = ("numpy", "matplotlib.pyplot")) -> Path:
    """A realistic course of ``count`` distinct lectures, reproducible from ``seed``:
    markdown-heavy pages, light code, numpy, a matplotlib plot, CPU-bound cells and
    wait-bound cells (a sleep standing in for a download), in the shares of
    ``MIXED_KINDS``; half ``.ipynb``, half percent ``.py``; in chapters of 8, with
    a small data file and a helper module in each chapter; ``preload`` in its
    nbbuild.toml (what a course author who imports numpy and matplotlib would set).
    """
    import random

    rng = random.Random(seed)
    kinds = [k for k, share in MIXED_KINDS for _ in range(round(share * count))]
    kinds = (kinds + ["light"] * count)[:count]
    rng.shuffle(kinds)
    root.mkdir(parents=True, exist_ok=True)
    if preload:
        (root / "nbbuild.toml").write_text(
            "preload = [" + ", ".join(f'"{m}"' for m in preload) + "]\n")
    for i, kind in enumerate(kinds):
        chapter = root / f"{i // 8 + 1:02d}-chapter"
        if not chapter.exists():
            chapter.mkdir()
            (chapter / "data.csv").write_text(
                "x,y\n" + "".join(f"{x},{rng.randint(0, 99)}\n" for x in range(20)))
            (chapter / "helpers.py").write_text(
                "def mean(values):\n    values = list(values)\n    return sum(values) / len(values)\n")
        cells = _lecture_cells(kind, i, rng)
        _write_lecture(chapter / f"{i:03d}-{kind}", cells, as_py=bool(i % 2))
    return root


def _lecture_cells(kind: str, i: int, rng) -> list[tuple[str, str]]:
    """(cell type, source) pairs for one lecture of ``kind``."""
    words = ["kernel", "notebook", "value", "list", "loop", "function", "array", "plot",
             "course", "student", "data", "result", "cell", "module", "error"]

    def prose(n: int) -> str:
        return " ".join(rng.choice(words) for _ in range(n)).capitalize() + "."

    cells = [("markdown", f"# Lecture {i}: {kind}\n\n{prose(30)}")]
    if kind == "markdown":
        for j in range(rng.randint(6, 12)):
            cells.append(("markdown", f"## Section {j + 1}\n\n{prose(60)}\n\n"
                          f"- {prose(8)}\n- {prose(8)}\n\n| a | b |\n|---|---|\n"
                          f"| {j} | {j * j} |\n\n$$x_{j} = \\sum_k k^{j % 3}$$"))
        cells.append(("code", f"print('lecture {i}')"))
    elif kind == "light":
        n = rng.randint(5, 50)
        cells += [
            ("code", f"def square(x):\n    return x * x\n\nsquares = [square(x) for x in range({n})]"),
            ("markdown", prose(25)),
            ("code", "import csv\nfrom helpers import mean\n"
                     "rows = list(csv.DictReader(open('data.csv')))\n"
                     "print(len(rows), mean(int(r['y']) for r in rows))"),
            ("code", f"{{k: v for k, v in enumerate(squares[:{rng.randint(3, 8)}])}}"),
        ]
    elif kind == "numpy":
        n = rng.randint(100, 1000)
        cells += [
            ("code", f"import numpy as np\nrng = np.random.default_rng({i})\n"
                     f"a = rng.normal(size=({n}, 50))"),
            ("markdown", prose(25)),
            ("code", "print(a.mean().round(3), a.std().round(3))\n(a.T @ a).shape"),
        ]
    elif kind == "plot":
        cells += [
            ("code", "import numpy as np\nimport matplotlib.pyplot as plt"),
            ("markdown", prose(20)),
            ("code", f"x = np.linspace(0, {rng.randint(2, 9)}, 200)\n"
                     "fig, ax = plt.subplots(figsize=(5, 3))\n"
                     f"ax.plot(x, np.sin(x) * {rng.randint(1, 5)})\nax.set_title('lecture {i}')\n"
                     "plt.show()"),
        ]
    elif kind == "cpu":
        n = rng.randint(300_000, 800_000)
        cells += [
            ("code", f"total = 0\nfor k in range({n}):\n    total += k % 7\nprint(total)"),
            ("markdown", prose(20)),
        ]
    elif kind == "wait":
        cells += [
            ("code", f"import time\ntime.sleep({rng.choice([0.3, 0.5, 0.8])})  # a download\n"
                     "print('fetched')"),
            ("markdown", prose(20)),
        ]
    return cells


def _write_lecture(stem: Path, cells: list[tuple[str, str]], as_py: bool) -> None:
    """A lecture at ``stem`` (.py or .ipynb), its folder made if needed."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    stem.parent.mkdir(parents=True, exist_ok=True)
    if as_py:
        parts = []
        for cell_type, source in cells:
            if cell_type == "markdown":
                parts.append("# %% [markdown]\n" + "\n".join(
                    "# " + line if line else "#" for line in source.splitlines()))
            else:
                parts.append("# %%\n" + source)
        stem.with_suffix(".py").write_text("\n\n".join(parts) + "\n")
        return
    nb = new_notebook(
        cells=[new_markdown_cell(src) if t == "markdown" else new_code_cell(src)
               for t, src in cells],
        metadata={"kernelspec": {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}},
    )
    for n, cell in enumerate(nb.cells):
        cell.id = f"cell-{n}"
    nbformat.write(nb, stem.with_suffix(".ipynb"))


def noop_benchmark(count: int, runs: int, workers: int) -> int:
    """Median wall time of a no-op build (everything up to date) of a generated course."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-noop-") as tmp:
        course = generate_course(Path(tmp) / "course", count)
        cmd = [sys.executable, "-m", "nbbuild", "build", str(course), "-q", "-j", str(workers)]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        first = time.perf_counter() - started
        if proc.returncode != 0:
            raise SystemExit(f"first build failed:\n{proc.stdout}\n{proc.stderr}")
        print(f"course of {count} notebooks; first (full) build {first:.1f} s")
        times = []
        for i in range(runs):
            started = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if proc.returncode != 0:
                raise SystemExit(f"no-op build failed:\n{proc.stdout}\n{proc.stderr}")
            print(f"  no-op build {i + 1}: {times[-1]:.3f} s", flush=True)
        print(f"\nno-op build of {count} notebooks, median of {runs}: "
              f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})")
    return 0


def generate_wait_course(root: Path, count: int, seconds: float) -> Path:
    """A wait-bound course: ``count`` notebooks that each sleep ``seconds`` (a stand-in
    for network), so scaling shows the framework's overhead, not the CPU count."""
    for i in range(count):
        _write_lecture(root / f"part-{i % 2}" / f"{i:03d}-wait", [
            ("markdown", f"# Download {i}"),
            ("code", f"import time\ntime.sleep({seconds})\nprint('done {i}')"),
        ], as_py=False)
    return root


def _timed_build(course: Path, out: Path, store: Path, workers: int, report: Path | None = None,
                 *extra: str) -> float:
    cmd = [sys.executable, "-m", "nbbuild", "build", str(course), "--out", str(out),
           "--cache-dir", str(store), "--workers", str(workers), "-q", *extra]
    if report is not None:
        cmd += ["--report", str(report)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"nbbuild failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def matrix_for(course: Path, workers_list: list[int], runs: int, modes: list[str]) -> dict:
    """nbbuild at each worker count: cold (empty cache), warm (outputs deleted, cache
    kept: re-render only) and no-op; ``runs`` times each; plus cold-run reports."""
    results: dict = {mode: {w: [] for w in workers_list} for mode in modes}
    phases: dict = {}
    for run in range(runs):
        for workers in workers_list:
            with tempfile.TemporaryDirectory(prefix="nbbuild-bench-m-") as tmp:
                out, store, report = Path(tmp) / "out", Path(tmp) / "store", Path(tmp) / "r.json"
                results["cold"][workers].append(_timed_build(course, out, store, workers, report))
                if run == 0:
                    r = json.loads(report.read_text())
                    phases[workers] = {
                        "stage_totals": r["stage_totals"],
                        "worker_utilization": r["worker_utilization"],
                        "stage_efficiency": r["stage_efficiency"],
                        "pool_startup_seconds": r["pool_startup_seconds"],
                        "database_seconds": r["database_seconds"],
                    }
                if "warm" in modes:
                    shutil.rmtree(out)
                    results["warm"][workers].append(_timed_build(course, out, store, workers))
                if "no-op" in modes:
                    results["no-op"][workers].append(_timed_build(course, out, store, workers))
            print(f"  run {run + 1}, {workers} workers: "
                  + ", ".join(f"{m} {results[m][workers][-1]:.2f} s" for m in modes), flush=True)
    return {"times": results, "phases": phases}


def naive_for(course: Path, workers_list: list[int], runs: int, formats: list[str]) -> dict:
    times: dict = {w: [] for w in workers_list}
    for _ in range(runs):
        for workers in workers_list:
            times[workers].append(run_naive(course, workers, formats))
            print(f"  naive, {workers} at a time: {times[workers][-1]:.2f} s", flush=True)
    return times


def _spread(times: list[float]) -> float:
    """Largest deviation from the median, as a fraction of it."""
    median = statistics.median(times)
    return max(abs(t - median) for t in times) / median if median else 0.0


def print_table(title: str, times: dict, jobs: int) -> dict:
    """Workers | Time | Jobs/s | Speedup | Efficiency, against the fewest workers."""
    print(f"\n{title}\n")
    print("| Workers | Time (s), median | spread | Jobs/s | Speedup | Efficiency |")
    print("|---|---|---|---|---|---|")
    base_workers = min(times)
    base = statistics.median(times[base_workers])
    rows = {}
    for workers in sorted(times):
        median = statistics.median(times[workers])
        speedup = base / median
        efficiency = speedup / (workers / base_workers)
        rows[workers] = {"median": median, "spread": _spread(times[workers]), "runs": times[workers],
                         "jobs_per_s": jobs / median, "speedup": speedup, "efficiency": efficiency}
        print(f"| {workers} | {median:.2f} | ±{100 * rows[workers]['spread']:.0f}% | "
              f"{jobs / median:.2f} | {speedup:.2f}x | {100 * efficiency:.0f}% |")
    return rows


def matrix_benchmark(args: argparse.Namespace) -> int:
    quick = args.quick
    runs = 1 if quick else args.runs
    workers_list = [1, 2, 4, 8]
    formats = ["html", "slides", "notebook"]
    result: dict = {"cpus": os.cpu_count(), "runs": runs, "quick": quick}
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-mixed-") as tmp:
        size = 12 if quick else args.mixed
        if size:
            course = generate_mixed_course(Path(tmp) / "mixed", size, seed=args.seed)
            label = f"generated mixed course (seed {args.seed})"
        else:
            course, label = args.course.resolve(), str(args.course)
        jobs = len(course_notebooks(course))
        print(f"mixed course: {label}, {jobs} notebooks; {os.cpu_count()} CPUs, {runs} run(s) each")
        mixed = matrix_for(course, workers_list, runs, ["cold", "warm", "no-op"])
        naive_workers = [4] if quick else [1, 4]
        naive = naive_for(course, naive_workers, runs, formats)
    tables = {mode: print_table(f"nbbuild, mixed course, {mode}", mixed["times"][mode], jobs)
              for mode in ("cold", "warm", "no-op")}
    naive_table = print_table("naive nbconvert loop, mixed course (jobs = notebooks)", naive, jobs)
    print("\n| Workers | nbbuild cold (s) | naive (s) | naive / nbbuild |\n|---|---|---|---|")
    ratios = {}
    for w in naive_workers:
        ratios[w] = naive_table[w]["median"] / tables["cold"][w]["median"]
        print(f"| {w} | {tables['cold'][w]['median']:.2f} | {naive_table[w]['median']:.2f} | "
              f"{ratios[w]:.1f}x |")
    print("\nPhase breakdown of the first cold build (summed over notebooks, seconds):\n")
    print("| Workers | read | kernel wait | execute | export | db | utilization | stage eff. |")
    print("|---|---|---|---|---|---|---|---|")
    for w, p in mixed["phases"].items():
        t = p["stage_totals"]
        print(f"| {w} | {t['read']:.2f} | {t['kernel_wait']:.2f} | {t['execute']:.2f} | "
              f"{t['export']:.2f} | {t['db']:.2f} | {100 * (p['worker_utilization'] or 0):.0f}% | "
              f"{100 * (p['stage_efficiency'] or 0):.0f}% |")
    fixture = None
    if not quick:
        # The small demo course too, for comparison: its fixed costs weigh more.
        demo = HERE / "fixtures" / "course"
        demo_times = matrix_for(demo, [4], runs, ["cold"])["times"]["cold"][4]
        demo_naive = naive_for(demo, [4], runs, formats)[4]
        fixture = {"notebooks": len(course_notebooks(demo)), "nbbuild_cold": summarize(demo_times),
                   "naive": summarize(demo_naive),
                   "ratio": statistics.median(demo_naive) / statistics.median(demo_times)}
        print(f"\nfixtures/course at 4 workers: nbbuild cold {statistics.median(demo_times):.2f} s "
              f"(±{100 * _spread(demo_times):.0f}%), naive {statistics.median(demo_naive):.2f} s "
              f"(±{100 * _spread(demo_naive):.0f}%): {fixture['ratio']:.1f}x")
    count, seconds = (16, 0.5) if quick else (args.wait_notebooks, 2.0)
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-wait-") as tmp:
        wait_course = generate_wait_course(Path(tmp) / "wait", count, seconds)
        print(f"\nwait-bound course: {count} notebooks sleeping {seconds} s each")
        wait_workers = [1, 8] if quick else workers_list
        wait = matrix_for(wait_course, wait_workers, runs, ["cold"])
        wait_table = print_table("nbbuild, wait-bound course, cold", wait["times"]["cold"], count)
    result.update({
        "mixed": {"course": label, "notebooks": jobs, "tables": tables, "phases": mixed["phases"]},
        "naive": naive_table, "ratio_naive_over_nbbuild": ratios, "fixtures_course": fixture,
        "wait_bound": {"notebooks": count, "sleep_seconds": seconds, "table": wait_table},
        "naive_retries": NAIVE_RETRIES,
    })
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return 0


def generate_short_course(root: Path, count: int) -> Path:
    """``count`` short notebooks of a few trivial cells: kernel start-up is the cost."""
    for i in range(count):
        _write_lecture(root / f"part-{i // 25:02d}" / f"{i:03d}-short", [
            ("markdown", f"# Short {i}"),
            ("code", f"x = {i}\nx * 2"),
            ("code", "print('hello')"),
            ("code", "[k * k for k in range(5)]"),
        ], as_py=bool(i % 2))
    return root


def generate_import_course(root: Path, count: int, preload: bool) -> Path:
    """``count`` notebooks that import numpy, pandas and matplotlib (cell 1) and draw
    a plot (cell 2); ``preload`` declares those modules in nbbuild.toml."""
    root.mkdir(parents=True)
    if preload:
        (root / "nbbuild.toml").write_text(
            'preload = ["numpy", "pandas", "matplotlib.pyplot"]\n')
    for i in range(count):
        _write_lecture(root / f"{i:02d}-plot", [
            ("code", "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt"),
            ("code", f"df = pd.DataFrame({{'x': np.arange(50), 'y': np.arange(50) ** {1 + i % 3}}})\n"
                     "ax = df.plot(x='x', y='y', figsize=(4, 3))\nplt.show()"),
        ], as_py=bool(i % 2))
    return root


def _report_build(course: Path, workers: int, *extra: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-r-") as tmp:
        report = Path(tmp) / "r.json"
        elapsed = _timed_build(course, Path(tmp) / "out", Path(tmp) / "store", workers,
                               report, *extra)
        return elapsed, json.loads(report.read_text())


def forking_benchmark(args: argparse.Namespace) -> int:
    """Issue 5: 100 short notebooks, 3 formats, 2 workers: forked kernels against
    pre-started spares (--no-fork), side by side, ``--runs`` rounds (default 5)."""
    runs = args.runs
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-fork-") as tmp:
        course = generate_short_course(Path(tmp) / "short", args.short)
        sides = {"fork": (), "spawn": ("--no-fork",)}
        times: dict[str, list[float]] = {k: [] for k in sides}
        cpu: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(runs):
            order = list(sides) if i % 2 == 0 else list(sides)[::-1]
            for name in order:
                elapsed, report = _report_build(course, 2, *sides[name])
                assert report["kernel_strategy"] == name, report["kernel_strategy"]
                times[name].append(elapsed)
                cpu[name].append(report["kernel_cpu_per_notebook"])
                print(f"  round {i + 1}: {name:5} {elapsed:6.2f} s, kernel CPU per notebook "
                      f"{1000 * cpu[name][-1]:.0f} ms", flush=True)
    print(f"\n{args.short} short notebooks, html+slides+notebook, --workers 2, {runs} rounds\n")
    print("| kernels | median (s) | spread | kernel CPU per notebook (median) |")
    print("|---|---|---|---|")
    for name in sides:
        print(f"| {name} | {statistics.median(times[name]):.2f} | ±{100 * _spread(times[name]):.0f}% | "
              f"{1000 * statistics.median(cpu[name]):.0f} ms |")
    ratio = statistics.median(times["spawn"]) / statistics.median(times["fork"])
    print(f"\nforked kernels: {ratio:.2f}x faster than pre-started spares")
    if args.json:
        args.json.write_text(json.dumps({"notebooks": args.short, "times": times,
                                         "kernel_cpu_per_notebook": cpu, "ratio": ratio},
                                        indent=2) + "\n")
    return 0


def preload_benchmark(args: argparse.Namespace) -> int:
    """Issue 5: notebooks that import numpy, pandas and matplotlib and plot, with and
    without ``preload``: the import cell's time, the execution time per notebook."""
    runs, workers = args.runs, args.workers
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-preload-") as tmp:
        courses = {
            "without preload": generate_import_course(Path(tmp) / "plain", args.imports, False),
            "with preload": generate_import_course(Path(tmp) / "pre", args.imports, True),
        }
        rows: dict[str, dict[str, list[float]]] = {
            k: {"wall": [], "import_cell": [], "plot_cell": [], "execute": [], "kernel_cpu": []}
            for k in courses}
        for i in range(runs):
            for name in (list(courses) if i % 2 == 0 else list(courses)[::-1]):
                elapsed, report = _report_build(courses[name], workers)
                nbs = report["notebooks"]
                row = rows[name]
                row["wall"].append(elapsed)
                row["import_cell"].append(statistics.median(n["cells"]["1"] for n in nbs))
                row["plot_cell"].append(statistics.median(n["cells"]["2"] for n in nbs))
                row["execute"].append(statistics.median(n["phases"]["execute"] for n in nbs))
                row["kernel_cpu"].append(report["kernel_cpu_per_notebook"])
                print(f"  round {i + 1}: {name:15} {elapsed:6.2f} s, import cell "
                      f"{1000 * row['import_cell'][-1]:.0f} ms", flush=True)
    print(f"\n{args.imports} notebooks importing numpy, pandas, matplotlib and plotting, "
          f"--workers {workers}, {runs} rounds (medians over notebooks, then rounds)\n")
    print("| | build (s) | import cell (ms) | plot cell (ms) | execute per notebook (ms) | "
          "kernel CPU per notebook (ms) |")
    print("|---|---|---|---|---|---|")
    for name, row in rows.items():
        m = {k: statistics.median(v) for k, v in row.items()}
        print(f"| {name} | {m['wall']:.2f} | {1000 * m['import_cell']:.0f} | "
              f"{1000 * m['plot_cell']:.0f} | {1000 * m['execute']:.0f} | "
              f"{1000 * m['kernel_cpu']:.0f} |")
    if args.json:
        args.json.write_text(json.dumps({"notebooks": args.imports, "rows": rows}, indent=2) + "\n")
    return 0


def split_by_edition(course: Path, dest: Path) -> dict[str, Path]:
    """One plain course per (language, edition) of a course with editions: that
    edition's notebooks as ``.ipynb`` (tags kept), beside the course's other files.
    Building each of them is how editions are made without nbbuild's editions:
    every edition executes again."""
    import nbformat

    from nbbuild import load_settings
    from nbbuild.course.discover import discover
    from nbbuild.course.editions import edition, read

    settings = load_settings(course)
    found = discover(settings)
    courses = {}
    for lang in settings.languages or (None,):
        for name in settings.edition_names:
            root = dest / f"{lang or 'all'}-{name}"
            for source in found.sources:
                if source.lang != lang:
                    continue
                target = root / source.stem.with_suffix(".ipynb")
                target.parent.mkdir(parents=True, exist_ok=True)
                nb = edition(read(source, settings).full, name)
                for cell in nb.cells:
                    cell.metadata.pop("lang", None)  # already chosen
                nbformat.write(nb, target)
            for rel in found.assets:
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(course / rel, root / rel)
            courses[f"{lang}/{name}" if lang else name] = root
    return courses


def editions_benchmark(args: argparse.Namespace) -> int:
    """Issue 6: a course with editions and languages (fixtures/bilingual), built by
    nbbuild (one execution per notebook and language), against one plain build per
    (language, edition), side by side, ``--runs`` rounds (default 5)."""
    from nbbuild import load_settings

    course = (args.course if args.course != HERE / "fixtures" / "course"
              else HERE / "fixtures" / "bilingual").resolve()
    settings = load_settings(course)
    formats = ",".join(settings.formats)
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-ed-") as tmp:
        split = split_by_edition(course, Path(tmp) / "split")
        n = 0

        def fresh() -> tuple[Path, Path]:
            nonlocal n
            n += 1
            return Path(tmp) / f"out{n}", Path(tmp) / f"store{n}"

        def editions() -> float:
            return _timed_build(course, *fresh(), args.workers)

        def separately() -> float:
            return sum(_timed_build(root, *fresh(), args.workers, None, "-f", formats)
                       for root in split.values())

        sides = {"nbbuild editions": editions, "one build per edition": separately}
        times: dict[str, list[float]] = {k: [] for k in sides}
        for i in range(args.runs):
            for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
                times[name].append(sides[name]())
                print(f"  round {i + 1}: {name:22} {times[name][-1]:6.2f} s", flush=True)
    outputs = len(split) * len(settings.formats)
    print(f"\n{course.name}: {len(split)} (language, edition) pairs x {len(settings.formats)} "
          f"formats = {outputs} outputs per notebook, --workers {args.workers}, {args.runs} rounds\n")
    print("| | median (s) | spread |")
    print("|---|---|---|")
    for name in sides:
        print(f"| {name} | {statistics.median(times[name]):.2f} | ±{100 * _spread(times[name]):.0f}% |")
    ratio = statistics.median(times["one build per edition"]) / statistics.median(
        times["nbbuild editions"])
    print(f"\nnbbuild's editions: {ratio:.2f}x faster than one build per edition")
    if args.json:
        args.json.write_text(json.dumps({"course": str(course), "times": times, "ratio": ratio},
                                        indent=2) + "\n")
    return 0


def _build_report(course: Path, out: Path, store: Path, workers: int, *extra: str
                  ) -> tuple[float, dict, int]:
    """One build, timed, with its report and exit code (1 is expected: failures)."""
    report = out.parent / f"{out.name}.report.json"
    cmd = [sys.executable, "-m", "nbbuild", "build", str(course), "--out", str(out),
           "--cache-dir", str(store), "--workers", str(workers), "-q", "--report", str(report),
           *extra]
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"nbbuild failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return elapsed, json.loads(report.read_text()), proc.returncode


def generate_failing_course(root: Path, count: int = 20, failing: int = 5) -> Path:
    """``count`` lectures doing a little numeric work, ``failing`` of them failing as
    third-party material does: a raise, a missing data file, a cell that times out
    (with ``--timeout 3``)."""
    kinds = ["raise", "missing", "timeout"]
    failing_at = {1 + k * (count // failing) for k in range(failing)}
    for i in range(count):
        cells = [("markdown", f"# Lecture {i}"), ("code", f"total = sum(range({i} * 1000))")]
        if i in failing_at:
            kind = kinds[len([j for j in failing_at if j < i]) % len(kinds)]
            cells.append(("code", {"raise": "raise RuntimeError('API changed')",
                                   "missing": "open('data/missing.csv').read()",
                                   "timeout": "import time\ntime.sleep(600)"}[kind]))
        cells.append(("code", "print(total)"))
        _write_lecture(root / f"{i:02d}-lecture", cells, as_py=i % 2 == 0)
    return root


def failing_benchmark(args: argparse.Namespace) -> int:
    """Issue 19: a course of 20 notebooks of which 5 fail. A cold build, then
    no-change rebuilds (the failures kept), side by side with no-change rebuilds
    that run the failures again (``--retry-failed``: what every rebuild did before)."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-fail-") as tmp:
        course = generate_failing_course(Path(tmp) / "course")
        out, store = Path(tmp) / "out", Path(tmp) / "store"
        extra = ("--timeout", "3")
        cold, report, code = _build_report(course, out, store, args.workers, *extra)
        counts = report["counts"]
        print(f"cold build: {cold:.2f} s, executed {counts['executed']}, failed "
              f"{counts['failed']}, exit {code}")
        times: dict[str, list[float]] = {"rebuild": [], "rebuild --retry-failed": []}
        executed: dict[str, list[int]] = {k: [] for k in times}
        for i in range(args.runs):
            for name in (list(times) if i % 2 == 0 else list(times)[::-1]):
                more = ("--retry-failed",) if "retry" in name else ()
                wall, report, code = _build_report(course, out, store, args.workers, *extra,
                                                   *more)
                times[name].append(wall)
                executed[name].append(report["counts"]["executed"])
                print(f"  round {i + 1}: {name:24} {wall:6.2f} s, executed "
                      f"{executed[name][-1]}, exit {code}", flush=True)
    print(f"\n20 notebooks, 5 failing, --workers {args.workers}, {args.runs} rounds\n")
    print("| no-change rebuild | median (s) | min | max | executed |")
    print("|---|---|---|---|---|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):.2f} | {min(t):.2f} | {max(t):.2f} | "
              f"{sorted(set(executed[name]))} |")
    return 0


def generate_bilingual_course(root: Path, count: int = 20, differing: int = 6) -> Path:
    """``count`` percent sources in English and German, each in a folder of its own;
    ``differing`` of them run code that differs by language. Every one writes a
    scratch file in its folder, waits, and checks that no other run wrote over it."""
    root.mkdir(parents=True)
    (root / "nbbuild.toml").write_text('languages = ["en", "de"]\n')
    for i in range(count):
        lang_code = (f'# %% lang="en"\nword = "hello"\n\n# %% lang="de"\nword = "hallo"\n\n'
                     if i < differing else '# %%\nword = "same"\n\n')
        folder = root / f"{i:02d}-topic"
        folder.mkdir()
        (folder / "lecture.py").write_text(
            f'# %% [markdown] lang="en"\n# # Topic {i}\n\n'
            f'# %% [markdown] lang="de"\n# # Thema {i}\n\n{lang_code}'
            "# %%\nimport os, time\nmark = f'{word} {os.getpid()}'\n"
            "open('scratch.txt', 'w').write(mark)\ntime.sleep(0.3)\n"
            "assert open('scratch.txt').read() == mark, 'another run wrote over scratch.txt'\n"
            "print(sum(range(10000)))\n")
    return root


def bilingual_benchmark(args: argparse.Namespace) -> int:
    """Issue 19: a bilingual course of 20 percent sources (6 differ by language),
    ``--runs`` forced builds (default 10) at ``--workers``: executions per build
    (goal: one per source whose code does not differ) and collision failures."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-bi-") as tmp:
        course = generate_bilingual_course(Path(tmp) / "course")
        out, store = Path(tmp) / "out", Path(tmp) / "store"
        rows = []
        for i in range(args.runs):
            wall, report, _ = _build_report(course, out, store, args.workers, "--force")
            collisions = sum(1 for n in report["notebooks"]
                             if n["error"] and "wrote over" in n["error"])
            rows.append((wall, report["counts"]["executed"], collisions,
                         report["counts"]["failed"] + report["counts"]["errored"]))
            print(f"  build {i + 1}: {wall:5.2f} s, executed {rows[-1][1]}, collisions "
                  f"{collisions}, not built {rows[-1][3]}", flush=True)
    print(f"\n20 sources x 2 languages (6 differ by language: 14 + 2 x 6 = 26 executions "
          f"expected), --workers {args.workers}, {args.runs} forced builds")
    print(f"executions per build: {sorted(set(r[1] for r in rows))}; collision failures: "
          f"{sum(r[2] for r in rows)}; notebooks not built: {sum(r[3] for r in rows)}; "
          f"median wall {statistics.median(r[0] for r in rows):.2f} s")
    return 0


def cluster_benchmark(args: argparse.Namespace) -> int:
    """Issue 9: fixtures/course on a local Dask cluster of 2 worker processes against
    the local pool at 2 workers, side by side, ``--runs`` rounds (default 5). The
    cluster is started once (as a scheduler address is given to nbbuild in
    practice); each build is a separate ``python -m nbbuild`` with an empty store."""
    import asyncio

    from distributed import LocalCluster

    course = args.course.resolve()
    workers = 2
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           scheduler_port=0, dashboard_address=":0", silence_logs=40)
    address = cluster.scheduler_address
    sides = {"local pool": (), "dask cluster": ("--cluster", address)}
    times: dict[str, list[float]] = {k: [] for k in sides}
    reports: dict[str, list[dict]] = {k: [] for k in sides}
    try:
        for i in range(args.runs):
            for name in (list(sides) if i % 2 == 0 else list(sides)[::-1]):
                elapsed, report = _report_build(course, workers, *sides[name])
                times[name].append(elapsed)
                reports[name].append(report)
                print(f"  round {i + 1}: {name:12} {elapsed:6.2f} s", flush=True)
    finally:
        cluster.close()
        asyncio.set_event_loop(asyncio.new_event_loop())
    print(f"\n{course.name} ({len(reports['local pool'][0]['notebooks'])} notebooks), 3 formats, "
          f"{workers} workers, {args.runs} rounds\n")
    print("| execution | median (s) | spread | export on the coordinator, summed (s) |")
    print("|---|---|---|---|")
    for name in sides:
        export = statistics.median(r["stage_totals"]["export"] for r in reports[name])
        print(f"| {name} | {statistics.median(times[name]):.2f} | "
              f"±{100 * _spread(times[name]):.0f}% | {export:.2f} |")
    overhead = statistics.median(times["dask cluster"]) / statistics.median(times["local pool"]) - 1
    print(f"\ndask cluster against the local pool: {100 * overhead:+.0f}% (goal: within 15%)")
    if args.json:
        args.json.write_text(json.dumps({"times": times, "overhead": overhead}, indent=2) + "\n")
    return 0


WATCHED = """# %% [markdown]
# # A short lecture, version {version}

# %%
x = {version}
x * 2

# %%
print("version {version}")
"""


def watch_benchmark(args: argparse.Namespace) -> int:
    """Issue 7: ``nbbuild watch --serve`` on a short notebook open in headless
    Chromium; for each of ``--edits`` saves, the seconds from the save to the new
    HTML on disk and to the page's reload (``performance.timeOrigin`` of the
    reloaded page). Needs selenium, chromium and chromedriver (the test set-up)."""
    import re
    import signal

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from nbbuild.store.database import Store

    edits = args.edits
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-watch-") as tmp:
        course = Path(tmp) / "course"
        course.mkdir()
        lecture = course / "lecture.py"
        lecture.write_text(WATCHED.format(version=0))
        page = course / "_build" / "lecture.html"
        proc = subprocess.Popen(
            [sys.executable, "-m", "nbbuild", "watch", str(course), "--serve", "--port", "0",
             "--workers", str(args.workers)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     f"--user-data-dir={Path(tmp) / 'profile'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(
            service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"),
            options=options)
        disk, reload = [], []
        try:
            url = None
            while url is None:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit("nbbuild watch ended early")
                found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
                url = found and found.group(1)
            _wait(lambda: page.is_file() and "version 0" in page.read_text(), 60)
            driver.get(url + "lecture.html")
            for version in range(1, edits + 1):
                time.sleep(1.0)  # the previous build is done, the next spare ready
                driver.execute_script("window.__before = true")
                saved = time.time()
                lecture.write_text(WATCHED.format(version=version))
                _wait(lambda: f"version {version}<" in page.read_text(), 30, 0.002)
                disk.append(time.time() - saved)
                origin = _wait(lambda: driver.execute_script(
                    "return window.__before === undefined && document.readyState === 'complete'"
                    " ? performance.timeOrigin : null"), 30, 0.005)
                reload.append(origin / 1000 - saved)
                print(f"  edit {version}: HTML on disk after {disk[-1]:.3f} s, page reloading "
                      f"after {reload[-1]:.3f} s", flush=True)
        finally:
            driver.quit()
            proc.send_signal(signal.SIGINT)
            proc.communicate(timeout=30)
        with Store(course / ".nbbuild") as store:
            rows = store.builds(edits + 5)
            executes = [store.build_report(r.id)["stage_totals"]["execute"] for r in rows][:edits]
    execute = statistics.median(executes)
    print(f"\n{edits} edits of a short notebook (3 cells), nbbuild watch --serve, "
          f"--workers {args.workers}, debounce 0.2 s\n")
    print("| from the save to | median (s) | min | max |")
    print("|---|---|---|---|")
    for name, values in (("the new HTML on disk", disk), ("the page's reload", reload)):
        print(f"| {name} | {statistics.median(values):.3f} | {min(values):.3f} | "
              f"{max(values):.3f} |")
    print(f"\nthe notebook's own execution: {execute:.3f} s (median of the builds' reports); "
          f"goal: 0.5 s + that = {0.5 + execute:.3f} s")
    if args.json:
        args.json.write_text(json.dumps({"disk": disk, "reload": reload, "execute": executes},
                                        indent=2) + "\n")
    return 0


def _wait(check, timeout: float, step: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except Exception:  # a page reloading under the driver, a file being replaced
            value = None
        if value:
            return value
        time.sleep(step)
    raise SystemExit("timed out waiting")


def against_benchmark(args: argparse.Namespace) -> int:
    """This working tree against an earlier commit (a git worktree in a temporary
    folder), alternating: --course built with --force, and a no-op build of a
    generated course of --short notebooks. What a change costs the builds it
    does not aim at."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-against-") as tmp:
        work = Path(tmp)
        old = work / "old-tree"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-q", str(old),
                        args.against], check=True)
        try:
            trees = {f"at {args.against}": old, "this tree": HERE}
            courses = {}
            for n, (name, tree) in enumerate(trees.items()):
                course = work / f"c{n}" / "course"
                shutil.copytree(args.course, course,
                                ignore=shutil.ignore_patterns("_build", ".nbbuild"))
                courses[name] = (course, generate_short_course(work / f"c{n}" / "short",
                                                               args.short))

            def timed(tree: Path, *cmd: object) -> float:
                began = time.perf_counter()
                subprocess.run([sys.executable, "-m", "nbbuild", *map(str, cmd), "-q",
                                "-j", str(args.workers)], cwd=tree, check=False,
                               capture_output=True)
                return time.perf_counter() - began

            def full(name: str) -> float:
                course = courses[name][0]
                if not args.cold:
                    return timed(trees[name], course, "--force")
                for made in (course / "_build", course / ".nbbuild"):
                    shutil.rmtree(made, ignore_errors=True)
                return timed(trees[name], course)

            for name, tree in trees.items():  # first builds, not measured
                timed(tree, courses[name][0])
                timed(tree, courses[name][1])
            times = {name: {"force": [], "noop": []} for name in trees}
            for r in range(args.runs):
                for name in (list(trees) if r % 2 == 0 else list(reversed(trees))):
                    times[name]["force"].append(full(name))
                    times[name]["noop"].append(timed(trees[name], courses[name][1]))
            rewritten = {name: _rewritten_by_one_edit(courses[name][0], lambda c, t=tree:
                                                      timed(t, c))
                         for name, tree in trees.items()}
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(old)],
                           check=False)
    kind = "cold (no output, no cache)" if args.cold else "--force"
    print(f"| nbbuild | {args.course.name} {kind}, median (min-max) s | "
          f"no-op of {args.short}, median (min-max) s | files rewritten by one markdown edit |")
    print("|---|---|---|---|")
    for name, t in times.items():
        f, n = summarize(t["force"]), summarize(t["noop"])
        print(f"| {name} | {f['median']:.2f} ({f['min']:.2f}-{f['max']:.2f}) | "
              f"{n['median']:.3f} ({n['min']:.3f}-{n['max']:.3f}) | "
              f"{len(rewritten[name])}: {', '.join(rewritten[name])} |")
    return 0


def _rewritten_by_one_edit(course: Path, build_once) -> list[str]:
    """The output files a markdown edit of one lecture rewrites (the first .ipynb
    lecture with a markdown cell gets a sentence more)."""
    import nbformat

    build_once(course)
    out = course / "_build"
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    lecture = next(p for p in sorted(course.rglob("*.ipynb")) if "_build" not in p.parts)
    nb = nbformat.read(lecture, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "markdown")
    cell.source += "\n\nOne more sentence."
    nbformat.write(nb, lecture)
    build_once(course)
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()
                  and p.stat().st_mtime_ns != before.get(p) and not p.name.startswith(".nbbuild-o")
                  and p.name != ".nbbuild-files")


# --- Issue 20: every core, imports paid once ------------------------------------------


class Trees:
    """This working tree and, with ``--before COMMIT``, that commit as a git worktree
    in a temporary folder: ``{name: folder}``, each run with ``python -m nbbuild``
    from its folder."""

    def __init__(self, before: str | None, work: Path) -> None:
        self.before = before
        self.old = work / "old-tree"
        self.trees: dict[str, Path] = {}

    def __enter__(self) -> dict[str, Path]:
        if self.before:
            subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", "-q",
                            str(self.old), self.before], check=True)
            self.trees[f"at {self.before}"] = self.old
        self.trees["this tree"] = HERE
        return self.trees

    def __exit__(self, *exc: object) -> None:
        if self.before:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force",
                            str(self.old)], check=False)


def _tree_build(tree: Path, course: Path, workers: int, *extra: str) -> tuple[float, dict]:
    """A cold build (fresh output and store) with ``tree``'s nbbuild; wall time, report."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-t-") as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, "-m", "nbbuild", "build", str(course), "--out", f"{tmp}/out",
               "--cache-dir", f"{tmp}/store", "--workers", str(workers), "-q",
               "--report", str(report), *extra]
        began = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True)
        elapsed = time.perf_counter() - began
        if proc.returncode != 0:
            raise SystemExit(f"nbbuild failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return elapsed, json.loads(report.read_text())


def _side_by_side(sides: dict, runs: int) -> dict[str, list[tuple[float, dict]]]:
    """Each side once per round, the order turning each round."""
    results: dict[str, list[tuple[float, dict]]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(runs):
        for name in names[r % len(names):] + names[:r % len(names)]:
            results[name].append(sides[name]())
            print(f"  round {r + 1}: {name:34} {results[name][-1][0]:7.2f} s", flush=True)
    return results


def _render_figures(report: dict) -> str:
    """Export wait against the export phase, worker utilisation, processes' CPU."""
    export = report["stage_totals"]["export"]
    wait = report.get("export_wait_seconds")
    share = f"{wait:.1f} s ({100 * wait / export:.0f}% of export {export:.1f} s)" \
        if wait is not None and export else "not reported"
    return (f"export wait {share}; utilisation {100 * (report['worker_utilization'] or 0):.0f}%; "
            f"CPU nbbuild {report['cpu_seconds']:.1f} s, kernels "
            f"{report['kernel_cpu_seconds']:.1f} s, render processes "
            f"{report.get('render_processes', 0)} x {report.get('render_cpu_seconds', 0.0):.1f} s")


def _median_report(runs: list[tuple[float, dict]]) -> dict:
    """The report of the build with the median time."""
    return sorted(runs, key=lambda run: run[0])[len(runs) // 2][1]


def _print_sides(results: dict[str, list[tuple[float, dict]]], base: float,
                 versus: str) -> None:
    """Each side's median and range, ``base`` / its median, and its median build's
    figures."""
    print(f"\n| build | median (min-max) s | {versus} | of the median build |")
    print("|---|---|---|---|")
    for name, runs in results.items():
        times = sorted(t for t, _ in runs)
        median = statistics.median(times)
        print(f"| {name} | {median:.2f} ({times[0]:.2f}-{times[-1]:.2f}) | {base / median:.2f}x | "
              f"{_render_figures(_median_report(runs))} |")


def _first_median(results: dict[str, list[tuple[float, dict]]]) -> float:
    return statistics.median(t for t, _ in next(iter(results.values())))


def generate_editions_course(root: Path, count: int) -> Path:
    """``count`` lectures in two languages and three editions (4 formats each: 24
    outputs per lecture), with code, solutions, notes, math and a plot."""
    root.mkdir(parents=True)
    (root / "nbbuild.toml").write_text(
        'editions = ["completed", "code-along", "speaker"]\nlanguages = ["en", "de"]\n'
        'formats = ["html", "slides", "notebook", "code"]\n')
    for i in range(count):
        body = [f"# %% [markdown]\n# # Lecture {i}\n# Math: $\\sum_{{k=1}}^{{{i + 2}}} k^2$, "
                f"see [the next lecture](lecture{(i + 1) % count:02d}.py).\n"]
        for j in range(8):
            body.append(f'# %% [markdown] lang="en"\n# Step {j}: *why* it works, in English.\n')
            body.append(f'# %% [markdown] lang="de"\n# Schritt {j}: *warum* es geht, auf Deutsch.\n')
            body.append(f"# %%\nvalues = [k * {j} for k in range({i + 20})]\nsum(values)\n")
            body.append('# %% tags=["solution"]\nanswer = max(values) - min(values)\n'
                        "print('answer', answer)\n")
            body.append(f'# %% [markdown] tags=["notes"]\n# Say: step {j} of lecture {i}.\n')
        body.append("# %%\nimport matplotlib.pyplot as plt\nplt.plot(range(10))\nplt.show()\n")
        (root / f"lecture{i:02d}.py").write_text("\n".join(body))
    return root


def renders_benchmark(args: argparse.Namespace) -> int:
    """Issue 20, item 1: the editions x languages course, cold, --workers (2): before
    (--before), this tree with the export thread only, and this tree."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-renders-") as tmp:
        course = generate_editions_course(Path(tmp) / "course", args.sources)
        with Trees(args.before, Path(tmp)) as trees:
            sides = {name: (lambda t=tree: _tree_build(t, course, args.workers))
                     for name, tree in trees.items()}
            sides["this tree, export thread only"] = lambda: _tree_build(
                HERE, course, args.workers, "--render-processes", "0")
            print(f"{args.sources} sources x 2 languages x 3 editions x 4 formats, "
                  f"--workers {args.workers}, {args.runs} rounds, {os.cpu_count()} CPUs")
            results = _side_by_side(sides, args.runs)
    _print_sides(results, _first_median(results), "first / this")
    return 0


HEAVY_PLOTS = ["sns.histplot(df, x='x', hue='g', ax=ax)", "sns.scatterplot(df, x='x', y='y', hue='g', ax=ax)",
               "sns.boxplot(df, x='g', y='y', ax=ax)", "sns.lineplot(df.sort_values('x'), x='x', y='y', ax=ax)"]


def generate_heavy_course(root: Path, count: int) -> Path:
    """Lectures that import numpy, pandas, matplotlib and seaborn and do real work,
    different in each: a data frame, a group-by, linear algebra, a seaborn plot."""
    for i in range(count):
        n, groups, m = 2000 + 500 * (i % 7), 3 + i % 5, 120 + 20 * (i % 6)
        _write_lecture(root / f"unit-{i // 8}" / f"{i:02d}-analysis", [
            ("markdown", f"# Analysis {i}"),
            ("code", "import numpy as np\nimport pandas as pd\nimport matplotlib.pyplot as plt\n"
                     "import seaborn as sns"),
            ("code", f"rng = np.random.default_rng({i})\n"
                     f"df = pd.DataFrame({{'x': rng.normal(size={n}), "
                     f"'g': rng.integers(0, {groups}, size={n})}})\n"
                     f"df['y'] = df.x * {1 + i % 3} + rng.normal(scale=0.5, size={n})\n"
                     "df.groupby('g').agg(['mean', 'std']).round(3)"),
            ("code", f"a = rng.normal(size=({m}, {m}))\n"
                     "vals = np.linalg.eigvals(a @ a.T)\nprint(round(float(vals.real.max()), 2))"),
            ("code", f"fig, ax = plt.subplots(figsize=(5, 3))\n{HEAVY_PLOTS[i % 4]}\nplt.show()"),
        ], as_py=bool(i % 2))
    return root


def heavy_benchmark(args: argparse.Namespace) -> int:
    """Issue 20, item 2: the execution-heavy course, nbbuild --workers with auto
    preload and with ``preload = []``, against the naive loop --parallel at a time."""
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-heavy-") as tmp:
        course = generate_heavy_course(Path(tmp) / "course", args.sources)
        off = Path(tmp) / "off"
        shutil.copytree(course, off)
        (off / "nbbuild.toml").write_text("preload = []\n")
        fmt = ("--formats", ",".join(formats))
        sides = {
            "naive": lambda: (run_naive(course, args.parallel, formats), {}),
            "nbbuild, preload auto (default)": lambda: _tree_build(HERE, course, args.workers, *fmt),
            "nbbuild, preload = []": lambda: _tree_build(HERE, off, args.workers, *fmt),
        }
        print(f"{args.sources} lectures (numpy, pandas, matplotlib, seaborn), --workers "
              f"{args.workers}, naive {args.parallel} at a time, {args.runs} rounds")
        results = _side_by_side(sides, args.runs)
    naive = statistics.median(t for t, _ in results.pop("naive"))
    print(f"\nnaive loop: {naive:.2f} s (median); the ratios below are naive / nbbuild")
    for name, runs in results.items():
        print(f"  {name}: preloaded {_median_report(runs)['preload']}")
    _print_sides(results, naive, "naive / nbbuild")
    return 0


def wait_benchmark(args: argparse.Namespace) -> int:
    """Issue 20, item 3: the wait-bound course (--wait-notebooks x 2 s) at 1/2/4/8
    workers, cold; efficiency against 1 worker, and where the rest went."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-wait-") as tmp:
        course = generate_wait_course(Path(tmp) / "wait", args.wait_notebooks, 2.0)
        sides = {w: (lambda w=w: _tree_build(HERE, course, w)) for w in (1, 2, 4, 8)}
        results = _side_by_side(sides, args.runs)
    print_table(f"wait-bound course, {args.wait_notebooks} notebooks x 2 s, cold",
                {w: [t for t, _ in runs] for w, runs in results.items()}, args.wait_notebooks)
    print("\n| workers | pool start-up s | kernel wait s (summed) | export wait s | utilisation |")
    print("|---|---|---|---|---|")
    for w, runs in results.items():
        r = _median_report(runs)
        print(f"| {w} | {r['pool_startup_seconds']:.2f} | {r['stage_totals']['kernel_wait']:.2f} | "
              f"{r['export_wait_seconds']:.2f} | {100 * (r['worker_utilization'] or 0):.0f}% |")
    return 0


def large_benchmark(args: argparse.Namespace) -> int:
    """Issue 20, item 4: the generated course of --large notebooks, cold, --workers,
    this tree against --before."""
    with tempfile.TemporaryDirectory(prefix="nbbuild-bench-large-") as tmp:
        course = generate_course(Path(tmp) / "course", args.large)
        with Trees(args.before, Path(tmp)) as trees:
            sides = {name: (lambda t=tree: _tree_build(t, course, args.workers))
                     for name, tree in trees.items()}
            print(f"{args.large} notebooks, --workers {args.workers}, {args.runs} rounds")
            results = _side_by_side(sides, args.runs)
    _print_sides(results, _first_median(results), "first / this")
    return 0


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
    parser.add_argument("--noop", type=int, metavar="N",
                        help="instead: time no-op builds of a generated course of N notebooks")
    parser.add_argument("--matrix", action="store_true",
                        help="instead: 1/2/4/8 workers, cold/warm/no-op, naive at 1 and 4, "
                             "and a wait-bound course")
    parser.add_argument("--mixed", type=int, default=40, metavar="N",
                        help="with --matrix: notebooks in the generated mixed course; "
                             "0 uses --course instead [40]")
    parser.add_argument("--seed", type=int, default=2026, help="of the generated course [2026]")
    parser.add_argument("--wait-notebooks", type=int, default=48, metavar="N",
                        help="with --matrix: notebooks in the wait-bound course [48]")
    parser.add_argument("--forking", action="store_true",
                        help="instead: short notebooks at 2 workers, forked vs spawned kernels")
    parser.add_argument("--short", type=int, default=100, metavar="N",
                        help="with --forking: how many short notebooks [100]")
    parser.add_argument("--preload", action="store_true",
                        help="instead: numpy/pandas/matplotlib notebooks with and without preload")
    parser.add_argument("--imports", type=int, default=12, metavar="N",
                        help="with --preload: how many notebooks [12]")
    parser.add_argument("--editions", action="store_true",
                        help="instead: fixtures/bilingual (or --course) with its editions, "
                             "against one build per edition")
    parser.add_argument("--cluster", action="store_true",
                        help="instead: --course on a local Dask cluster of 2 against the "
                             "local pool at 2 workers (needs pip install -e '.[dask]')")
    parser.add_argument("--watch", action="store_true",
                        help="instead: latency of nbbuild watch --serve, save to page reload")
    parser.add_argument("--edits", type=int, default=10, metavar="N",
                        help="with --watch: how many edits [10]")
    parser.add_argument("--quick", action="store_true",
                        help="with --matrix: one run each, fewer configurations (< 2 min)")
    parser.add_argument("--cold", action="store_true",
                        help="with --against: build from nothing (output and cache removed "
                             "before each build) instead of --force")
    parser.add_argument("--failing", action="store_true",
                        help="instead: 20 notebooks of which 5 fail, cold and no-change builds")
    parser.add_argument("--bilingual", action="store_true",
                        help="instead: 20 bilingual percent sources, forced builds: executions "
                             "and collisions (--runs 10)")
    parser.add_argument("--against", metavar="COMMIT",
                        help="instead: this tree against COMMIT (--course --force, and a "
                             "no-op build of --short notebooks), alternating")
    parser.add_argument("--renders", action="store_true",
                        help="instead: the editions x languages course of --sources lectures, "
                             "before (--before), export thread only, and this tree")
    parser.add_argument("--heavy", action="store_true",
                        help="instead: the execution-heavy course of --sources lectures, "
                             "preload auto and off, against the naive loop")
    parser.add_argument("--wait", action="store_true",
                        help="instead: the wait-bound course at 1/2/4/8 workers")
    parser.add_argument("--large", type=int, metavar="N",
                        help="instead: a generated course of N notebooks, cold, against --before")
    parser.add_argument("--sources", type=int, default=40, metavar="N",
                        help="lectures of --renders and --heavy [40]")
    parser.add_argument("--before", metavar="COMMIT",
                        help="with --renders or --large: also build with COMMIT's nbbuild")
    args = parser.parse_args(argv)
    for flag, run in (("renders", renders_benchmark), ("heavy", heavy_benchmark),
                      ("wait", wait_benchmark), ("large", large_benchmark)):
        if getattr(args, flag):
            return run(args)
    if args.against:
        return against_benchmark(args)
    if args.noop:
        return noop_benchmark(args.noop, args.runs, args.workers)
    if args.matrix:
        return matrix_benchmark(args)
    if args.forking:
        return forking_benchmark(args)
    if args.preload:
        return preload_benchmark(args)
    if args.editions:
        return editions_benchmark(args)
    if args.watch:
        return watch_benchmark(args)
    if args.cluster:
        return cluster_benchmark(args)
    if args.failing:
        return failing_benchmark(args)
    if args.bilingual:
        return bilingual_benchmark(args)
    course = args.course.resolve()
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    n_notebooks = len(course_notebooks(course))

    print(f"course {course} ({n_notebooks} notebooks), formats {','.join(formats)}, "
          f"{os.cpu_count()} CPUs, {args.runs} rounds")
    history = Path(tempfile.mkdtemp(prefix="nbbuild-bench-store-"))
    run_nbbuild(course, args.workers, formats, history)  # primes the rebuild's store
    sides = {
        "naive": lambda: run_naive(course, args.parallel, formats),
        "first build": lambda: run_nbbuild(course, args.workers, formats, None),
        "rebuild": lambda: run_nbbuild(course, args.workers, formats, history, "--force"),
        "no fork": lambda: run_nbbuild(course, args.workers, formats, None, "--no-fork"),
    }
    times: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for i in range(args.runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            times[name].append(sides[name]())
            print(f"  round {i + 1}: {name:12} {times[name][-1]:6.2f} s", flush=True)
    shutil.rmtree(history, ignore_errors=True)
    if NAIVE_RETRIES:
        print(f"\nnaive jobs run again after a failure: {len(NAIVE_RETRIES)}")
        for line in NAIVE_RETRIES:
            print(f"  {line}")

    naive = statistics.median(times["naive"])
    result = {
        "course": str(course),
        "notebooks": n_notebooks,
        "formats": formats,
        "cpus": os.cpu_count(),
        "workers": args.workers,
        "parallel": args.parallel,
        **{name: summarize(t) for name, t in times.items()},
        "naive_retries": NAIVE_RETRIES,
        "speedup_first_build": naive / statistics.median(times["first build"]),
        "speedup_rebuild": naive / statistics.median(times["rebuild"]),
        "speedup_no_fork": naive / statistics.median(times["no fork"]),
    }
    print()
    print("| build | median wall (s) | min | max | speed-up vs naive |")
    print("|---|---|---|---|---|")
    labels = {
        "naive": f"naive `nbconvert` loop, {args.parallel} at a time",
        "first build": f"nbbuild --workers {args.workers}, first build (course order)",
        "rebuild": f"nbbuild --workers {args.workers}, rebuild (longest first)",
        "no fork": f"nbbuild --workers {args.workers} --no-fork, first build",
    }
    for name, label in labels.items():
        r = result[name]
        print(f"| {label} | {r['median']:.2f} | {r['min']:.2f} | {r['max']:.2f} | "
              f"{naive / r['median']:.1f}x |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
