"""The two keys that decide what a build does, and what an execution leaves behind.

* the **execution key** covers what can change outputs: the code cells (sources
  normalized, execution tags), the kernelspec and language, allowed errors, the
  notebook's folder, declared dependencies and environment variables;
* the **export key** covers what can change the rendered files: the whole notebook,
  the formats, nbconvert's and nbbuild's versions, page settings.

An execution's payload is what it adds to a notebook (code cells' outputs), kept in
the store by execution key.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from nbbuild import __version__
from nbbuild.config import Settings
from nbbuild.course.editions import EXECUTION_TAGS
from nbbuild.course.globs import matches_any
from nbbuild.course.sources import LoadedNotebook
from nbbuild.model import Source
from nbbuild.render.layout import has_site


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalize_code(source: str) -> str:
    """Line endings unified, trailing whitespace dropped: edits that cannot change
    what runs do not change the key."""
    lines = [line.rstrip() for line in source.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def declared_env(settings: Settings) -> dict[str, str | None]:
    """The values, now, of the environment variables the course declares."""
    return {name: os.environ.get(name) for name in sorted(settings.env)}


def execution_parts(
    loaded: LoadedNotebook,
    allow_errors: bool,
    declared: list[str] | None = None,
    env: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    cells = [
        [normalize_code(c.source), sorted(set(c.metadata.get("tags", [])) & EXECUTION_TAGS)]
        for c in loaded.nb.cells
        if c.cell_type == "code"
    ]
    return {
        "code": digest(cells),
        "kernel": loaded.kernel_name,
        "language": (loaded.nb.metadata.get("kernelspec") or {}).get("language", ""),
        "errors": allow_errors,
        "folder": str(loaded.source.rel.parent),
        "depends": sorted(declared or []),
        "env": env or {},
    }


def settings_parts(settings: Settings) -> dict[str, Any]:
    """The export key's parts that do not depend on the notebook itself."""
    parts = {
        "formats": list(settings.formats),
        "nbconvert": _version("nbconvert"),
        "nbbuild": __version__,
        "reveal_url_prefix": settings.reveal_url_prefix,
        "assets": settings.assets,
        "out": str(settings.out),
    }
    if has_site(settings):  # the course title and the look are on every page and deck
        from nbbuild.site.outline import course_title

        parts["site"] = {"title": course_title(settings), "look": settings.look.key()}
    if settings.kernel or settings.kernel_aliases:  # a change may choose another kernel
        parts["kernel_choice"] = [list(map(list, settings.kernel)),
                                  list(map(list, settings.kernel_aliases))]
    if settings.variants:
        parts["editions"] = list(settings.edition_names)
        parts["languages"] = list(settings.languages)
        parts["layout"] = settings.layout
    return parts


@functools.cache  # once per process: each lookup leaves objects behind in importlib
def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def declared_globs(settings: Settings, source: Source) -> list[str]:
    """The ``depends`` globs that apply to ``source``."""
    return sorted(
        {g for pattern, globs in settings.depends if matches_any(source.rel, [pattern])
         for g in globs}
    )


def payload_of(nb: Any) -> dict[str, Any]:
    """What an execution adds to a notebook: code cells' outputs and counts."""
    return {
        "metadata": {k: nb.metadata[k] for k in ("language_info", "widgets") if k in nb.metadata},
        "cells": [
            {"execution_count": c.get("execution_count"), "outputs": c.get("outputs", [])}
            for c in nb.cells
            if c.cell_type == "code"
        ],
    }


def output_caps(settings: Settings) -> list[float]:
    """The output limits an execution ran under (``max_output_mb``, ``max_outputs``)."""
    return [settings.max_output_mb, settings.max_outputs]


def was_truncated(payload: dict[str, Any] | None) -> bool:
    """Whether an execution's outputs were cut at a limit (the note is in them)."""
    from nbbuild.kernels.limits import TRUNCATED

    for cell in (payload or {}).get("cells", []):
        for output in cell.get("outputs", []):
            text = output.get("text") or ""
            if TRUNCATED in ("".join(text) if isinstance(text, list) else text):
                return True
    return False


def apply_payload(nb: Any, payload: dict[str, Any]) -> None:
    """Put a cached execution's outputs into ``nb`` (same code cells, by key)."""
    import nbformat

    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell, cached in zip(code_cells, payload["cells"], strict=True):
        cell.execution_count = cached["execution_count"]
        cell.outputs = [nbformat.from_dict(o) for o in cached["outputs"]]
    for key, value in payload["metadata"].items():
        nb.metadata[key] = nbformat.from_dict(value)
