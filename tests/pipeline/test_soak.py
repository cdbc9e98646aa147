"""The soak run: a 500-notebook course built three times in a row (cold, after
editing the code of a third of the notebooks, forced), with no infrastructure error, no growth
of nbbuild's memory or open files from run to run, and no process left behind.

Slow (a few minutes): left out of the default run. Run it with

    python -m pytest -m slow tests/pipeline/test_soak.py -n 0 -s

and it prints a line per build: notebooks, executed, errors, wall time, nbbuild's
peak memory and peak open files.
"""

from __future__ import annotations

import json
import time

import pytest

from ..conftest import kernel_processes, write_notebook
from .test_faults import _watched_build

pytestmark = [pytest.mark.slow, pytest.mark.integration]

NOTEBOOKS = 500


def test_soak_500_notebooks_three_builds(tmp_path, private_tmp):
    course = tmp_path / "course"
    data = course / "data"
    data.mkdir(parents=True)
    (data / "numbers.csv").write_text("\n".join(str(i) for i in range(100)))
    for i in range(NOTEBOOKS):
        cells = [f"# Lecture {i}", f"x = {i}\nx * 2", "print('hello', x)"]
        if i % 5 == 0:
            cells.append("total = sum(int(n) for n in open('../data/numbers.csv'))\ntotal")
        write_notebook(course / f"part-{i // 50:02d}" / f"{i:03d}.ipynb", *cells)
    rows = []
    for name, extra in (("cold", []), ("edited a third", []), ("forced", ["--force"])):
        if name == "edited a third":
            for i, path in enumerate(sorted(course.glob("part-*/*.ipynb"))):
                if i % 3 == 0:
                    path.write_text(path.read_text().replace(f"x = {i}", f"x = {i} + 1000"))
        report = tmp_path / f"{len(rows)}.json"
        began = time.monotonic()
        done, open_files = _watched_build(
            ["build", str(course), "--workers", "4", "-q", "--report", str(report), *extra])
        wall = time.monotonic() - began
        assert done.returncode == 0, done.stdout[-3000:]
        figures = json.loads(report.read_text())
        counts = figures["counts"]
        rows.append({
            "build": name, "notebooks": counts["notebooks"],
            "executed": counts["executed"], "errors": counts["failed"] + counts["errored"],
            "wall_s": round(wall, 1),
            "peak_rss_mib": round(figures["resources"]["peak_bytes"]["nbbuild_rss"] / 2**20),
            "peak_open_files": open_files,
        })
        assert kernel_processes(private_tmp) == [], f"processes left after the {name} build"
    for row in rows:
        print(json.dumps(row))
    assert [r["errors"] for r in rows] == [0, 0, 0]
    assert [r["notebooks"] for r in rows] == [NOTEBOOKS] * 3
    assert rows[0]["executed"] == NOTEBOOKS and rows[1]["executed"] == (NOTEBOOKS + 2) // 3
    assert rows[2]["executed"] == NOTEBOOKS
    cold, forced = rows[0], rows[2]
    # the same work twice: no growth from run to run beyond noise
    assert forced["peak_rss_mib"] <= cold["peak_rss_mib"] * 1.25 + 20
    assert forced["peak_open_files"] <= cold["peak_open_files"] * 1.25 + 20
