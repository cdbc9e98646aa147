"""Shared fixtures: copies of the demo courses, a private temp folder per test
(nbbuild's kernels keep their connection files there, so leftover kernel
processes can be found by it), and a way to run the real command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


@pytest.fixture(autouse=True, scope="session")
def _template_cache(tmp_path_factory: pytest.TempPathFactory):
    """Keep compiled templates out of the user's cache folder during tests."""
    os.environ["NBBUILD_CACHE_DIR"] = str(tmp_path_factory.mktemp("nbbuild-cache"))
    yield


@pytest.fixture
def private_tmp(monkeypatch: pytest.MonkeyPatch):
    """TMPDIR for this test only, for this process and the processes it starts.

    Short (in /tmp) so kernel sockets fit in it and their command lines name it.
    """
    folder = Path(tempfile.mkdtemp(prefix="nbt-", dir="/tmp"))
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def copy_course(name: str, dest: Path) -> Path:
    target = dest / name
    shutil.copytree(FIXTURES / name, target, ignore=shutil.ignore_patterns("_build", ".nbbuild"))
    return target


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh copy of fixtures/course."""
    return copy_course("course", tmp_path)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A fresh copy of fixtures/broken."""
    return copy_course("broken", tmp_path)


def kernel_processes(marker: Path) -> list[psutil.Process]:
    """Live processes started for a test whose private TMPDIR is ``marker``.

    Kernels started normally name it in their command line (connection file);
    forked kernels and their template carry the template's command line but
    inherited the test's environment, so TMPDIR is checked too.
    """
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if proc.pid == os.getpid() or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if "multiprocessing.resource_tracker" in cmdline:
                continue  # the test process's own helper (Dask's worker processes start it)
            if str(marker) in cmdline or proc.environ().get("TMPDIR") == str(marker):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def run_nbbuild(*args: str, env: dict[str, str] | None = None, timeout: float = 240):
    """Run ``python -m nbbuild ARGS`` as a real process; return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "nbbuild", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def write_course(root: Path, settings: str, files: dict[str, str]) -> Path:
    """A course folder with ``settings`` as its ``nbbuild.toml`` and ``files``
    (course-relative name: text)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbbuild.toml").write_text(settings)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def write_notebook(path: Path, *sources: str, **metadata) -> Path:
    """A small .ipynb of code cells (markdown cells when a source starts with '# ')."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    cells = [new_markdown_cell(s) if s.startswith("# ") else new_code_cell(s) for s in sources]
    meta = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    meta.update(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=cells, metadata=meta), path)
    return path


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a shell that
    starts jobs in the background (``nohup ... &``) ignores SIGINT for them, and a
    Python started with SIGINT ignored never raises KeyboardInterrupt."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)

