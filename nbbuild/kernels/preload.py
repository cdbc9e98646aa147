"""``preload = "auto"``: the modules worth importing once in the kernel template.

Importing the scientific stack is most of a typical lecture's first cell (numpy,
pandas, matplotlib and seaborn: ~1.1 s of CPU per kernel). A template that
imported them once hands every forked kernel the result. Which modules a course
uses is read from its import statements, and only modules known to be safe to
import before a fork are chosen: they start no thread, open no socket and hold no
device at import (torch, tensorflow, polars and jax do some of that, and are
never chosen). A module few notebooks import is not worth it: the template pays
the import once before the first kernel can fork, on every worker's critical
path, while each importing notebook saves it on one worker only. So a module is
chosen when at least as many notebooks import it as there are workers (and at
least two): measured on the demo course, where 2 of 13 lectures import numpy, a
preload made the first build slower (docs/performance.md).

The reading is a scan of the sources' text, not a parse: it must stay cheap on a
course of a thousand files, and a line that merely looks like an import (in a
markdown cell) can at worst preload a safe module that nothing uses.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

#: Safe to import in the template, in the order they are imported (a module's
#: dependencies first, so that each import's own cost is what the report shows).
SAFE = ("numpy", "scipy", "pandas", "matplotlib", "seaborn", "sklearn", "statsmodels",
        "sympy", "networkx", "PIL")

#: A preload entry the template skips, silently, when it is not installed.
OPTIONAL = "?"

# `import a.b as c, d` or `from a.b import c` at the start of a line; in an .ipynb
# file the line starts after the JSON string's quote.
_IMPORT = re.compile(
    r'^[ \t]*"?[ \t]*(?:import[ \t]+([A-Za-z_][\w.]*)|from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b)',
    re.MULTILINE,
)

#: Least number of notebooks importing a module for it to be preloaded, whatever
#: the number of workers.
MIN_NOTEBOOKS = 2


def imported_modules(text: str) -> set[str]:
    """The safe modules a source imports, by dotted name (``matplotlib.pyplot``)."""
    found = set()
    for match in _IMPORT.finditer(text):
        name = (match.group(1) or match.group(2)).rstrip(".")
        if name.split(".")[0] in SAFE:
            found.add(name)
    return found


def choose(per_notebook: Iterable[set[str]], at_least: int = MIN_NOTEBOOKS) -> tuple[str, ...]:
    """The modules that at least ``at_least`` (and ``MIN_NOTEBOOKS``) notebooks
    import, each marked optional, in ``SAFE`` order. A submodule imported by enough notebooks stands
    for its package too (``matplotlib.pyplot`` imports ``matplotlib``)."""
    counts: Counter[str] = Counter()
    for names in per_notebook:
        counts.update(names)
    chosen = [name for name, n in counts.items()
              if n >= max(at_least, MIN_NOTEBOOKS) and name.split(".")[0] in SAFE]
    covered = {name for name in chosen
               if any(other.startswith(name + ".") for other in chosen)}
    chosen = [name for name in chosen if name not in covered]
    chosen.sort(key=lambda name: (SAFE.index(name.split(".")[0]), name))
    return tuple(OPTIONAL + name for name in chosen)


def auto_preload(paths: Iterable[Path], workers: int = 1) -> tuple[str, ...]:
    """What the course's Python sources (``.py`` and ``.ipynb`` files) make worth
    preloading for ``workers`` workers; an unreadable file counts as importing
    nothing."""
    per_notebook = []
    for path in set(paths):
        if path.suffix not in (".py", ".ipynb"):
            continue
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        per_notebook.append(imported_modules(text))
    return choose(per_notebook, workers)


def module_name(entry: str) -> str:
    """A preload entry without its optional mark."""
    return entry.removeprefix(OPTIONAL)
