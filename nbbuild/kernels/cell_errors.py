"""What a failed cell or kernel is called in nbbuild's messages: the file, the
cell (1-based), the line (in the ``.py`` file for percent sources), the exception
as the notebook raised it, and for a dead kernel how it ended and its last output.
"""

from __future__ import annotations

import re
import time

from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import CellError, KernelDiedError
from nbbuild.kernels.kernel import Kernel

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CELL_LINE = re.compile(
    r"(?:Cell In\s*\[(\d*)\]|<ipython-input-(\d+)-[0-9a-f]+>)[^\n]*?line (\d+)")
#: What IPython's reply names when the error came from displaying a result (a
#: ``__repr__`` that raised): the exception itself is only in the error output.
_UNNAMED = ("", "None", "NoneType", "<Error>")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def timed_out_error(loaded: LoadedNotebook, index: int, spent: float, limit: float | None,
                    seconds: float) -> CellError:
    """The error of a cell stopped at its timeout (``seconds``), or at the
    notebook's ``limit``."""
    if limit is not None and spent >= limit - 0.5:
        message = (f"notebook timed out after {limit:g} s, in {where(loaded, index)} "
                   "(raise it with notebook_timeout)")
    else:
        message = (f"{where(loaded, index)} timed out after {seconds:g} s "
                   f"(raise it with --timeout or metadata.nbbuild.timeout)")
    return CellError(
        loaded.source.key,
        message,
        cell=loaded.cell_number(index),
        line=_line(loaded, index, ""),
        ename="TimeoutError",
        evalue=message.split(" (")[0],
        timed_out=True,
    )


def where(loaded: LoadedNotebook, index: int) -> str:
    """``cell N`` (1-based, as the author counts), or ``kernel start``."""
    return f"cell {loaded.cell_number(index)}" if index >= 0 else "kernel start"


def _line(loaded: LoadedNotebook, index: int, traceback: str,
          count: int | None = None) -> int | None:
    """Line in the ``.py`` file (percent sources) or in the cell (``.ipynb``): the
    first frame of this cell (execution ``count``); a frame of code from another
    cell (a function it defined) says nothing of where this cell is."""
    frames = [(m.group(1) or m.group(2), int(m.group(3))) for m in _CELL_LINE.finditer(traceback)]
    if count is not None and frames:
        frames = [f for f in frames if f[0] == str(count)]
        if not frames:  # raised in code of other cells only: no line of this one
            return None
    in_cell = frames[0][1] if frames else None
    if loaded.cell_lines is not None and 0 <= index < len(loaded.cell_lines):
        return loaded.cell_lines[index] + (in_cell or 1)
    return in_cell


def cell_error(loaded: LoadedNotebook, index: int, exc) -> CellError:
    cell = loaded.nb.cells[index] if 0 <= index < len(loaded.nb.cells) else None
    ename, evalue, traceback = str(exc.ename), str(exc.evalue or ""), str(exc.traceback or "")
    errors = [o for o in (cell.get("outputs", []) if cell else []) if o.output_type == "error"]
    if ename in _UNNAMED and errors:  # raised while its result was displayed
        ename, evalue = str(errors[0].ename), str(errors[0].evalue)
        traceback = "\n".join(errors[0].traceback)
    traceback = strip_ansi(traceback)
    count = cell.get("execution_count") if cell is not None else None
    line = _line(loaded, index, traceback, count if isinstance(count, int) else None)
    place = where(loaded, index)
    if line is not None:
        place += f", line {line}" + (" of the file" if loaded.cell_lines else "")
    evalue = strip_ansi(evalue)
    return CellError(
        loaded.source.key,
        f"{place} raised {ename}: {evalue}",
        cell=loaded.cell_number(index),
        line=line,
        ename=ename,
        evalue=evalue,
        traceback=traceback,
    )


def died_error(loaded: LoadedNotebook, index: int, kernel: Kernel) -> KernelDiedError:
    message = f"kernel died while running {where(loaded, index)}"
    lines = kernel.log_tail().splitlines()
    how = kernel.exit_description(lines)
    for _ in range(6):  # a forked kernel's keeper notes its end a moment after it
        if how or not kernel.forked:
            break
        time.sleep(0.05)
        lines = kernel.log_tail().splitlines()
        how = kernel.exit_description(lines)
    if how:
        message += f": {how}"
        if "SIGKILL" in how:
            message += (" (killed from outside; on Linux often the out-of-memory killer: "
                        "see `dmesg`, or set kernel_memory_mb)")
    # ipykernel's start-up banner ends with the "--existing" line: not a clue.
    after = max((i for i, line in enumerate(lines) if "--existing " in line), default=-1)
    output = [line for line in lines[after + 1:]
              if line.strip() and not line.startswith("[nbbuild]")]
    if output:
        message += "; its last output:\n" + "\n".join(output[-8:])
    return KernelDiedError(loaded.source.key, message)
