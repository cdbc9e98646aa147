"""Percent sources in every language jupytext reads: ``lecture.sh`` with ``# %%``
cells, ``lecture.ts`` or ``lecture.cpp`` with ``// %%`` cells, ``lecture.r``, ... are
notebooks (the same content rule as ``.py``: at least one cell marker), run on the
kernel the ``kernels`` setting names for their extension, or a usual default.

The table of extensions, languages and comment markers is jupytext's own; only
languages with a line comment are taken (a percent cell marker is a line).
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

#: The kernel a percent source runs on, by extension, unless its jupytext header
#: or the ``kernels`` setting names another. Names as each kernel installs itself.
DEFAULT_KERNELS = {
    "py": "python3", "sh": "bash", "ts": "tslab", "js": "jslab", "r": "ir",
    "cpp": "xcpp17", "java": "java", "cs": ".net-csharp", "fs": ".net-fsharp",
    "fsx": ".net-fsharp", "ps1": ".net-powershell", "jl": "julia", "scala": "scala",
    "rs": "rust", "go": "gophernotes", "lua": "lua", "hs": "haskell", "m": "matlab",
    "groovy": "groovy", "sage": "sagemath", "xsh": "xonsh", "tcl": "tcl",
}


@functools.cache
def script_languages() -> dict[str, tuple[str, str]]:
    """(language, comment) by extension (``.sh``), from jupytext's table."""
    table = _jupytext_languages()._SCRIPT_EXTENSIONS
    return {ext: (spec["language"], spec["comment"]) for ext, spec in table.items()
            if spec["comment"] not in ("(*", "/*")}


def _jupytext_languages() -> Any:
    """jupytext's ``languages`` module, without importing the jupytext package
    (0.35 s, which every build, even a no-op one, would pay at discovery): the
    module imports nothing but ``re``."""
    import importlib.util
    import sys

    if "jupytext.languages" in sys.modules:
        return sys.modules["jupytext.languages"]
    found = importlib.util.find_spec("jupytext")
    if found is None or not found.submodule_search_locations:
        raise ModuleNotFoundError("jupytext is not installed")
    path = os.path.join(list(found.submodule_search_locations)[0], "languages.py")
    spec = importlib.util.spec_from_file_location("nbbuild_jupytext_languages", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.cache
def marker(extension: str) -> re.Pattern[str] | None:
    """The percent cell marker of a file with this extension (``# %%``, ``// %%``)."""
    found = script_languages().get(extension)
    if found is None:
        return None
    return re.compile(rf"^{re.escape(found[1])}\s?%%", re.MULTILINE)


def default_kernel(extension: str, kernels: dict[str, str]) -> str:
    """The kernel a percent source of this extension runs on: the ``kernels``
    setting (keys without the dot), else ``DEFAULT_KERNELS``."""
    key = extension.lstrip(".")
    return kernels.get(key) or kernels.get(key.lower()) or DEFAULT_KERNELS.get(
        key.lower(), "python3")


def kernelspec(extension: str, kernels: dict[str, str]) -> dict[str, str]:
    """The kernelspec a header-less percent source gets in its executed notebook."""
    name = default_kernel(extension, kernels)
    language = script_languages().get(extension, ("python", "#"))[0]
    if name == "python3":
        return {"name": name, "display_name": "Python 3 (ipykernel)", "language": "python"}
    return {"name": name, "display_name": name, "language": language}


def script_extension(language: str | None) -> str:
    """The file extension of a script in ``language`` (``.sh`` for bash), ``.py``
    when unknown."""
    wanted = (language or "python").lower()
    if wanted in ("python", "python3", "ipython"):
        return ".py"
    for ext, (name, _comment) in script_languages().items():
        if name.lower() == wanted:  # .r rather than .R, where both are known
            return ext.lower() if ext.lower() in script_languages() else ext
    return ".py"
