"""One notebook through nbclient on a pooled kernel, with real kernels."""

import asyncio
import time
from pathlib import PurePosixPath

import pytest

from nbbuild.course.sources import load
from nbbuild.errors import CellError, KernelDiedError
from nbbuild.kernels.execute import ExecuteOptions, execute_notebook, tracked_files
from nbbuild.kernels.kernel import KernelRequest
from nbbuild.kernels.pool import KernelPool
from nbbuild.kernels.tracking import install_code
from nbbuild.model import Source, SourceKind

from ..conftest import write_notebook

pytestmark = pytest.mark.integration


def _load(path):
    kind = SourceKind.PERCENT if path.suffix == ".py" else SourceKind.IPYNB
    return load(Source(path=path, rel=PurePosixPath(path.name), kind=kind))


def _execute(path, timeout=60.0, allow_errors=False):
    loaded = _load(path)

    async def main():
        async with KernelPool(spares=1) as pool:
            kernel = await pool.take(KernelRequest(loaded.kernel_name, path.parent))
            try:
                return await execute_notebook(
                    loaded, kernel, ExecuteOptions(timeout=timeout, allow_errors=allow_errors))
            finally:
                pool.discard(kernel)

    execution = asyncio.run(main())
    return loaded, execution


def test_outputs_counts_and_language_info(tmp_path, private_tmp):
    path = write_notebook(tmp_path / "n.ipynb", "# t", "x = 6 * 7", "print(x)", "x")
    loaded, execution = _execute(path)
    cells = loaded.nb.cells
    assert [c.get("execution_count") for c in cells[1:]] == [1, 2, 3]
    assert cells[2].outputs[0].text == "42\n"
    assert cells[3].outputs[0].data["text/plain"] == "42"
    assert loaded.nb.metadata.language_info.name == "python"
    assert set(execution.cell_seconds) == {1, 2, 3}
    assert "execution" not in cells[1].metadata  # no volatile timestamps


def test_error_in_percent_file_names_cell_and_file_line(tmp_path, private_tmp):
    path = tmp_path / "lesson.py"
    path.write_text("# %%\na = 1\n\n# %%\nb = 2\nc = {}\nc['missing']\n")
    with pytest.raises(CellError) as info:
        _execute(path)
    err = info.value
    assert (err.cell, err.line, err.ename) == (2, 7, "KeyError")
    assert str(err).startswith("lesson.py: cell 2, line 7 of the file raised KeyError")
    assert "c['missing']" in err.traceback and "\x1b[" not in err.traceback


def test_raises_exception_tag_and_allow_errors(tmp_path, private_tmp):
    import nbformat

    path = write_notebook(tmp_path / "n.ipynb", "1/0", "print('after')")
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].metadata["tags"] = ["raises-exception"]
    nbformat.write(nb, path)
    loaded, _ = _execute(path)
    assert loaded.nb.cells[0].outputs[0].ename == "ZeroDivisionError"
    assert loaded.nb.cells[1].outputs[0].text == "after\n"

    plain = write_notebook(tmp_path / "p.ipynb", "raise ValueError('x')", "print('after')")
    with pytest.raises(CellError):
        _execute(plain)
    loaded, _ = _execute(plain, allow_errors=True)
    assert loaded.nb.cells[1].outputs[0].text == "after\n"


def test_dead_kernel_is_reported(tmp_path, private_tmp):
    path = write_notebook(tmp_path / "d.ipynb", "print('ok')", "import os; os._exit(1)")
    with pytest.raises(KernelDiedError, match="kernel died while running cell 2"):
        _execute(path)


def test_cell_timeout_from_cell_metadata(tmp_path, private_tmp):
    import nbformat

    path = write_notebook(tmp_path / "h.ipynb", "import time; time.sleep(120)")
    nb = nbformat.read(path, as_version=4)
    nb.cells[0].metadata["nbbuild"] = {"timeout": 1}
    nbformat.write(nb, path)
    began = time.perf_counter()
    with pytest.raises(CellError, match="cell 1 timed out after 1 s"):
        _execute(path, timeout=300)
    assert time.perf_counter() - began < 30


def test_notebook_timeout_from_notebook_metadata(tmp_path, private_tmp):
    path = write_notebook(tmp_path / "h.ipynb", "import time; time.sleep(120)",
                          nbbuild={"timeout": 1})
    with pytest.raises(CellError, match="timed out after 1 s"):
        _execute(path, timeout=300)


def test_input_fails_at_once(tmp_path, private_tmp):
    path = write_notebook(tmp_path / "i.ipynb", "input('name? ')")
    began = time.perf_counter()
    with pytest.raises(CellError, match="StdinNotImplementedError"):
        _execute(path, timeout=120)
    assert time.perf_counter() - began < 30


def test_files_read_and_written_are_tracked(tmp_path, private_tmp):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("a,b\n1,2\n")
    (tmp_path / "helpers.py").write_text("X = 1\n")
    (tmp_path / "unused.txt").write_text("never opened")
    path = write_notebook(
        tmp_path / "n.ipynb",
        "import helpers\nprint(open('data/in.csv').read())",
        "open('out.txt', 'w').write('made here')\nopen('out.txt').read()",
        "import os\nfd = os.open('data/in.csv', os.O_RDONLY); os.close(fd)",
    )
    loaded = _load(path)

    async def main():
        # The pool installs the tracker when the kernel is ready; it is asked after.
        async with KernelPool(spares=1, setup_code=install_code(tmp_path)) as pool:
            kernel = await pool.take(KernelRequest("python3", tmp_path))
            try:
                await execute_notebook(loaded, kernel, ExecuteOptions(timeout=60))
                return await tracked_files(kernel, tmp_path)
            finally:
                pool.discard(kernel)

    reads, writes = asyncio.run(main())
    assert "helpers.py" in reads and "data/in.csv" in reads
    assert "out.txt" in writes
    assert "unused.txt" not in reads
    counts = [c.get("execution_count") for c in loaded.nb.cells if c.cell_type == "code"]
    assert counts == [1, 2, 3]  # the tracker's silent requests are not counted
