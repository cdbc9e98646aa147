"""The JSON build report: valid against its schema, and consistent with itself."""

import json

import jsonschema
import pytest

from nbbuild.report.json_report import PHASES, SCHEMA, build_report

from ..conftest import run_nbbuild, write_notebook

pytestmark = pytest.mark.integration

EPS = 1e-6


def _check(report):
    jsonschema.validate(report, SCHEMA)
    for nb in report["notebooks"]:
        assert sum(nb["phases"].values()) <= nb["total_seconds"] + EPS, nb
        detail = sum(nb["export_detail"].values())
        assert detail <= nb["phases"].get("export", 0.0) + EPS, nb
        assert sum(nb["cells"].values()) <= nb["phases"].get("execute", 0.0) + EPS, nb
    totals = report["stage_totals"]
    for phase in PHASES:
        assert totals[phase] == pytest.approx(
            sum(nb["phases"].get(phase, 0.0) for nb in report["notebooks"]))
    slowest = [n["seconds"] for n in report["slowest_notebooks"]]
    assert slowest == sorted(slowest, reverse=True)


def test_report_of_a_full_build(course, private_tmp, tmp_path):
    path = tmp_path / "report.json"
    proc = run_nbbuild(str(course), "-j", "4", "--report", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "where the time went (summed over notebooks): read" in proc.stdout
    # Two lectures import numpy, fewer than the 4 workers: "auto" preloads nothing.
    assert "kernels: 13 started (forked) · CPU: nbbuild" in proc.stdout
    assert " ms each) · peak " in proc.stdout
    report = json.loads(path.read_text())
    _check(report)
    resources = report["resources"]
    assert resources["samples"] >= 2 and resources["kernels_seen"] >= 1
    assert resources["peak_bytes"]["nbbuild_rss"] > 0 and resources["peak_bytes"]["kernels_rss"] > 0
    assert resources["kernel_cpu_seconds"] > 0
    counts = report["counts"]
    assert counts["notebooks"] == counts["executed"] == counts["built"] == 13
    assert report["kernels_started"] == 13 and report["workers"] == 4
    assert report["database_seconds"] > 0 and report["cpu_seconds"] > 0
    assert 0 < report["stage_efficiency"] <= 1
    assert report["kernel_strategy"] == "fork" and report["preload"] == []
    per_kernel = [nb["kernel_cpu_seconds"] for nb in report["notebooks"]]
    assert all(c is not None and c > 0 for c in per_kernel)
    assert report["kernel_cpu_seconds"] == pytest.approx(sum(per_kernel))
    assert report["kernel_cpu_per_notebook"] == pytest.approx(sum(per_kernel) / 13)
    for nb in report["notebooks"]:
        assert nb["kernel_startup"] > 0 and nb["phases"]["execute"] > 0
        assert set(nb["export_detail"]) == {"render:html", "render:slides", "render:notebook",
                                            "write", "wait"}
    # The wait for a free renderer, per notebook and summed; a course this small
    # gets no render processes ("auto").
    assert report["export_wait_seconds"] == pytest.approx(
        sum(nb["export_detail"]["wait"] for nb in report["notebooks"]))
    assert report["render_processes"] == 0 and report["render_cpu_seconds"] == 0
    assert report["slowest_cells"][0]["seconds"] >= 0.9  # the 1 s sleep or the plot
    waiting = next(n for n in report["notebooks"] if n["source"].endswith("02-waiting.ipynb"))
    assert waiting["cells"]["2"] >= 1.0


def test_report_of_a_noop_and_a_failing_build(tmp_path, private_tmp):
    course = tmp_path / "c"
    write_notebook(course / "ok.ipynb", "print(1)")
    write_notebook(course / "bad.ipynb", "1/0")
    path = tmp_path / "r.json"
    assert run_nbbuild(str(course), "-q", "--report", str(path)).returncode == 1
    report = json.loads(path.read_text())
    _check(report)
    bad = next(n for n in report["notebooks"] if n["source"] == "bad.ipynb")
    assert bad["status"] == "failed" and "ZeroDivisionError" in bad["error"]
    assert bad["kernel_cpu_seconds"] > 0  # measured for a failed notebook too
    assert set(bad["outputs"]) == {"html", "slides", "notebook"}  # under the banner
    run_nbbuild(str(course), "-q", "--report", str(path))
    again = json.loads(path.read_text())
    _check(again)
    ok = next(n for n in again["notebooks"] if n["source"] == "ok.ipynb")
    assert ok["action"] == "up to date" and again["counts"]["executed"] == 0
    assert ok["kernel_cpu_seconds"] is None
    bad = next(n for n in again["notebooks"] if n["source"] == "bad.ipynb")
    assert bad["status"] == "failed" and bad["action"] == "up to date"  # kept, not re-run
    assert "ZeroDivisionError" in bad["error"] and bad["reasons"][0].startswith(
        "failed, unchanged since ")
    run_nbbuild(str(course), "-q", "--retry-failed", "--report", str(path))
    assert json.loads(path.read_text())["counts"]["executed"] == 1


def test_schema_rejects_an_inconsistent_report():
    from pathlib import Path

    from nbbuild.model import BuildResult

    report = build_report(BuildResult([], 1.0, Path("out")), course=Path("c"), workers=2)
    jsonschema.validate(report, SCHEMA)
    report["notebooks"] = [{"source": "x"}]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(report, SCHEMA)
