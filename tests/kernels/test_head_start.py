"""The kernel template ``nbbuild build`` starts before it imports its pipeline
(head_start.py): adopted by the pool, told then what to preload, killed when not
wanted, never left behind."""

import asyncio
import json
import sys

import nbformat
import pytest

from nbbuild.kernels import head_start
from nbbuild.kernels.kernel import KernelRequest
from nbbuild.kernels.pool import KernelPool

from ..conftest import kernel_processes, run_nbbuild, write_course, write_notebook

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(sys.platform == "win32", reason="kernels are forked on POSIX only"),
]

PROBE = "import sys\nprint(json.dumps({'numpy': 'numpy' in sys.modules}))"


def _left_behind(private_tmp):
    return sorted(p.name for p in private_tmp.glob("nbbuild-template-*"))


def _build(course, private_tmp, *args):
    done = run_nbbuild("build", str(course), "-j", "2", "-q", "--report",
                       str(course / "report.json"), *args, env={"TMPDIR": str(private_tmp)})
    assert done.returncode == 0, done.stderr
    return json.loads((course / "report.json").read_text())


def _one_notebook(tmp_path):
    course = tmp_path / "course"
    write_course(course, "", {})
    write_notebook(course / "one.ipynb", "print(1)")
    return course


def test_the_command_lines_template_is_adopted_and_told_what_to_preload(tmp_path, private_tmp):
    course = tmp_path / "course"
    write_course(course, "", {})
    for name in ("one", "two", "three"):
        write_notebook(course / f"{name}.ipynb", "import json", PROBE, "import numpy\nprint(1)")
    report = _build(course, private_tmp)
    assert report["template_head_start"] is True
    # numpy, chosen by preload = "auto" after the template had started, was
    # imported before any kernel was forked from it.
    assert report["preload"] == ["numpy"]
    for name in ("one", "two", "three"):
        nb = nbformat.read(course / "_build" / f"{name}.ipynb", as_version=4)
        assert json.loads(nb.cells[1].outputs[0].text) == {"numpy": True}
    assert kernel_processes(private_tmp) == []
    assert _left_behind(private_tmp) == []


def test_a_build_with_nothing_to_execute_kills_it(tmp_path, private_tmp):
    course = _one_notebook(tmp_path)
    assert _build(course, private_tmp)["template_head_start"] is True
    again = _build(course, private_tmp)  # nothing stale: no kernel, no template
    assert again["kernels_started"] == 0 and again["template_head_start"] is False
    assert kernel_processes(private_tmp) == []
    assert _left_behind(private_tmp) == []


def test_without_forking_none_is_started(tmp_path, private_tmp):
    course = _one_notebook(tmp_path)
    report = _build(course, private_tmp, "--no-fork")
    assert report["template_head_start"] is False and report["forked"] is False
    assert kernel_processes(private_tmp) == []
    assert _left_behind(private_tmp) == []


def test_it_is_not_adopted_for_another_environment(tmp_path, private_tmp, monkeypatch):
    """A template imports under its environment: one started before a change to
    it is not what the pool would start."""
    async def main():
        async with KernelPool(spares=1) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            pool.discard(kernel)
            return pool.head_started, pool.forked

    head_start.begin()
    try:
        monkeypatch.setenv("NBBUILD_HEAD_START_TEST", "1")
        assert asyncio.run(main()) == (False, True)
    finally:
        head_start.discard()
    monkeypatch.delenv("NBBUILD_HEAD_START_TEST")
    head_start.begin()
    try:
        assert asyncio.run(main()) == (True, True)
    finally:
        head_start.discard()
    assert kernel_processes(private_tmp) == []
    assert _left_behind(private_tmp) == []


def test_a_preload_that_fails_after_adoption_falls_back_as_at_a_normal_start(
        tmp_path, private_tmp):
    async def main():
        async with KernelPool(spares=1, preload=("no_such_module_nbbuild",)) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            forked = kernel.km.provisioner.forked
            pool.discard(kernel)
            return pool.problems, pool.preloaded, forked

    head_start.begin()
    try:
        problems, preloaded, forked = asyncio.run(main())
    finally:
        head_start.discard()
    assert forked and preloaded == ()
    assert len(problems) == 1 and "cannot preload no_such_module_nbbuild" in problems[0]
    assert kernel_processes(private_tmp) == []
    assert _left_behind(private_tmp) == []
