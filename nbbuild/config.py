"""Build settings: defaults < course file (nbbuild.toml or [tool.nbbuild]) < command line.

Settings are a frozen, keyword-only dataclass so a build cannot change them half
way; ``load_settings`` is the one place that reads and validates them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from nbbuild import config_values as values
from nbbuild.config_values import FORMATS
from nbbuild.errors import ConfigError
from nbbuild.look import LOOK_KEYS, Look, LookError, check_look_files, parse_look

DEFAULT_FORMATS = ("html", "slides", "notebook")
#: Where each output of a course with editions or languages goes, under ``out``;
#: empty parts (no languages, say) are dropped.
DEFAULT_LAYOUT = "{lang}/{edition}/{format}"
DEFAULT_OUT = "_build"
DEFAULT_CACHE_DIR = ".nbbuild"
DEFAULT_TIMEOUT = 300.0
DEFAULT_STARTUP_TIMEOUT = 60.0
DEFAULT_HEARTBEAT_TIMEOUT = 10.0
DEFAULT_MAX_OUTPUT_MB = 10.0
DEFAULT_MAX_SOURCE_MB = 100.0
DEFAULT_MAX_OUTPUTS = 1000
CONFIG_FILE = "nbbuild.toml"


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a build needs to know. Paths are absolute."""

    course: Path
    out: Path
    formats: tuple[str, ...] = DEFAULT_FORMATS
    workers: int
    timeout: float = DEFAULT_TIMEOUT
    #: Limit on a whole notebook's execution, in seconds (None: only per cell).
    notebook_timeout: float | None = None
    #: Seconds a kernel may leave its heartbeat unanswered (stopped, frozen)
    #: before its notebook is given up and the kernel stopped.
    heartbeat_timeout: float = DEFAULT_HEARTBEAT_TIMEOUT
    #: Output kept per cell, in MB (2**20 bytes); the rest is dropped with a note.
    max_output_mb: float = DEFAULT_MAX_OUTPUT_MB
    #: Outputs kept per cell (display() calls, figures); the rest dropped with a note.
    max_outputs: int = DEFAULT_MAX_OUTPUTS
    #: Resident memory a kernel may use, in MB; None: no limit.
    kernel_memory_mb: float | None = None
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT
    include: tuple[str, ...] = ("**",)
    exclude: tuple[str, ...] = ()
    allow_errors: tuple[str, ...] = ()
    reveal_url_prefix: str | None = None
    #: Declared dependencies: (notebook glob, file globs) pairs, for files that the
    #: automatic tracking cannot see (read by a subprocess, say).
    depends: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Time budgets for execution, in seconds, by notebook glob; over 80% warns,
    #: over 100% warns, or fails the notebook when ``strict_budgets`` is true.
    budgets: tuple[tuple[str, float], ...] = ()
    strict_budgets: bool = False
    #: Broken links (and other warnings about the output) fail the build.
    strict: bool = False
    #: Where pages and decks load reveal.js and MathJax from: ``local`` (a copy in
    #: ``OUT/_static``, works offline) or ``cdn`` (nbconvert's CDN links).
    assets: str = "local"
    #: Names of environment variables whose values can change results: part of
    #: every notebook's execution key.
    env: tuple[str, ...] = ()
    #: The kernel of a percent source without a jupytext header, by extension
    #: (``{"ts": "tslab"}``); course/languages.py has the defaults.
    kernels: tuple[tuple[str, str], ...] = ()
    #: Transport by kernelspec name (``{"xpython": "tcp"}``): ``ipc`` or ``tcp``;
    #: by default ipc for ipykernel on POSIX, TCP on 127.0.0.1 for other kernels.
    kernel_transport: tuple[tuple[str, str], ...] = ()
    #: The kernel to run notebooks on whatever they declare, by notebook glob
    #: (``kernel = "python3"`` is ``{"**" = "python3"}``); the first match wins.
    kernel: tuple[tuple[str, str], ...] = ()
    #: Kernelspec names to run on another kernel (``{"python2" = "python3"}``).
    kernel_aliases: tuple[tuple[str, str], ...] = ()
    #: What a notebook whose cell raised gets: ``banner`` (its page, deck and
    #: notebook up to the failing cell, under a banner) or ``omit`` (no outputs).
    failed_pages: str = "banner"
    #: Fork fresh kernels from a template that already imported ipykernel (POSIX).
    fork_kernels: bool = True
    #: Processes rendering beside the export thread (render/render_processes.py);
    #: ``auto``: one per core when the build has enough to render.
    render_processes: int | str = "auto"
    #: Modules the kernel template imports once for all forked kernels (numpy,
    #: matplotlib, ...), so notebooks that import them start at once; ``auto``:
    #: those of a safe list that several notebooks import (kernels/preload.py).
    preload: tuple[str, ...] | str = "auto"
    #: Editions to render from each execution (``completed``, ``code-along``,
    #: ``speaker``) and the course's languages (cells with ``lang``); with
    #: neither, the simple layout (one output per format).
    editions: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    #: Folders of each output in a course with editions or languages.
    layout: str = DEFAULT_LAYOUT
    #: Run notebooks on a Dask cluster: a scheduler address, or ``local[:N]``.
    cluster: str | None = None
    #: Workers see the course at the same path (a shared file system): no files
    #: are sent with each notebook.
    cluster_shared_fs: bool = False
    #: Build into an output folder that nbbuild did not make and that is not empty
    #: (files with the names of outputs are replaced; nothing else is touched).
    out_overwrite: bool = False
    #: Sources larger than this many MB are refused with a message.
    max_source_mb: float = DEFAULT_MAX_SOURCE_MB
    #: Symbolic links in the course that may lead outside it (course-relative
    #: paths of the links); any other such link is skipped with a warning.
    allow_links: tuple[str, ...] = ()
    #: The course's title on its home page and every page; default: the first
    #: heading of the course's README.md (or index.md), else the folder's name.
    title: str | None = None
    #: The home page's introduction (markdown); default: the rest of README.md.
    description: str | None = None
    #: Section titles by course folder (``{"01-basics" = "Basics"}``); default: the
    #: first heading of the folder's README.md, else its name without numbering.
    sections: tuple[tuple[str, str], ...] = ()
    #: Logo, stylesheets, prompts, theme, decks' options (site/look.py).
    look: Look = field(default_factory=Look)
    #: The course's store (run times now, the build cache later); outside ``out``
    #: so that deleting the outputs loses nothing.
    cache_dir: Path
    config_file: Path | None = None

    def allows_errors(self, rel: object) -> bool:
        """Whether the notebook at course-relative ``rel`` may raise (``allow_errors``)."""
        from nbbuild.course.globs import matches_any

        return matches_any(str(rel), self.allow_errors)

    @property
    def variants(self) -> bool:
        """Whether the course has editions or languages (the variant layout)."""
        return bool(self.editions or self.languages)

    @property
    def max_source_bytes(self) -> int:
        return int(self.max_source_mb * 2**20)

    @property
    def edition_names(self) -> tuple[str, ...]:
        """The editions rendered: the configured ones, else the completed one only."""
        return self.editions or ("completed",)


# Keys a course file may set, with the type each must have.
_FILE_KEYS: dict[str, type | tuple[type, ...]] = {
    "out": str,
    "formats": list,
    "workers": int,
    "timeout": (int, float),
    "notebook_timeout": (int, float),
    "heartbeat_timeout": (int, float),
    "max_output_mb": (int, float),
    "max_outputs": int,
    "kernel_memory_mb": (int, float),
    "startup_timeout": (int, float),
    "include": list,
    "exclude": list,
    "allow_errors": list,
    "reveal_url_prefix": str,
    "cache_dir": str,
    "title": str,
    "description": str,
    "sections": dict,
    "logo": str,
    "css": (str, list),
    "show_prompts": bool,
    "theme": str,
    "slides": dict,
    "fork_kernels": bool,
    "render_processes": (int, str),
    "kernels": dict,
    "kernel_transport": dict,
    "kernel": (str, dict),
    "kernel_aliases": dict,
    "failed_pages": str,
    "preload": (str, list),
    "editions": list,
    "languages": list,
    "layout": str,
    "cluster": str,
    "cluster_shared_fs": bool,
    "depends": dict,
    "env": list,
    "budgets": dict,
    "strict_budgets": bool,
    "strict": bool,
    "assets": str,
    "out_overwrite": bool,
    "max_source_mb": (int, float),
    "allow_links": list,
}


def read_course_file(course: Path) -> tuple[dict[str, Any], Path | None]:
    """The course's own settings and the file they came from (or ``{}, None``)."""
    toml_file = course / CONFIG_FILE
    if toml_file.is_file():
        return _load_toml(toml_file), toml_file
    pyproject = course / "pyproject.toml"
    if pyproject.is_file():
        section = _load_toml(pyproject).get("tool", {}).get("nbbuild")
        if section is not None:
            if not isinstance(section, dict):
                raise ConfigError(f"{pyproject}: [tool.nbbuild] must be a table")
            return section, pyproject
    return {}, None


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None


def load_settings(course: Path | str, **overrides: Any) -> Settings:
    """Settings for ``course``: the course file's values, then ``overrides``.

    Overrides set to ``None`` are ignored, so a command line can pass every
    option it has. Relative ``out`` paths are relative to the course (from the
    file) or to the current directory (from the command line).
    """
    course = Path(course).resolve()
    if not course.is_dir():
        raise ConfigError(f"{course}: not a folder")
    values, source = read_course_file(course)
    where = str(source) if source else "settings"
    _check_keys(values, where)

    merged: dict[str, Any] = dict(values)
    for key in _PATH_KEYS:
        if key in merged:
            merged[key] = course / merged[key]
    for key, value in overrides.items():
        if value is not None:
            merged[key] = Path(value).resolve() if key in _PATH_KEYS else value
    return _make(course, merged, source, where)


_PATH_KEYS = ("out", "cache_dir")


def _check_keys(values: dict[str, Any], where: str) -> None:
    for key, value in values.items():
        if key not in _FILE_KEYS:
            known = ", ".join(sorted(_FILE_KEYS))
            raise ConfigError(f"{where}: unknown setting {key!r} (known: {known})")
        expected = _FILE_KEYS[key]
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ConfigError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")


def _make(course: Path, merged: dict[str, Any], source: Path | None, where: str) -> Settings:
    from nbbuild.platforms import default_workers

    given = set(merged)
    formats = values.formats(merged.pop("formats", DEFAULT_FORMATS), where)
    workers = merged.pop("workers", None)
    if workers is None:
        workers = default_workers()
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"{where}: workers must be a whole number of at least 1")
    values.check_limits(merged, where)
    if merged.get("assets", "local") not in ("local", "cdn"):
        raise ConfigError(f"{where}: assets must be \"local\" or \"cdn\"")
    for key in ("include", "exclude", "allow_errors", "env", "allow_links"):
        if key in merged:
            merged[key] = values.strings(merged[key], key, where)
    rp = merged.get("render_processes", "auto")
    if rp != "auto" and (isinstance(rp, bool) or not isinstance(rp, int) or rp < 0):
        raise ConfigError(f"{where}: render_processes must be \"auto\" or a whole number")
    if "preload" in merged and merged["preload"] != "auto":
        if isinstance(merged["preload"], str):
            raise ConfigError(f"{where}: preload must be \"auto\" or a list of module names")
        merged["preload"] = values.module_names(merged["preload"], where)
    if "editions" in merged:
        merged["editions"] = values.editions(merged["editions"], where)
    if "languages" in merged:
        merged["languages"] = values.languages(merged["languages"], where)
    if "layout" in merged:
        values.check_layout(merged["layout"], where)
    if (merged.get("editions") or merged.get("languages")) and "formats" not in given:
        formats = FORMATS  # a course with editions hands out code as well
    if "budgets" in merged:
        merged["budgets"] = values.budgets(merged["budgets"], where)
    if "depends" in merged:
        merged["depends"] = tuple(
            (str(pattern), values.strings(files, f"depends.{pattern}", where))
            for pattern, files in merged["depends"].items()
        )
    try:
        merged["look"] = parse_look({k: merged.pop(k) for k in LOOK_KEYS if k in merged}, where)
    except LookError as exc:
        raise ConfigError(str(exc)) from None
    try:
        check_look_files(course, merged["look"], where)
    except LookError as exc:
        raise ConfigError(str(exc)) from None
    if "sections" in merged:
        merged["sections"] = values.name_table(merged["sections"], "sections", where, "a title", "/")
    if "kernels" in merged:
        merged["kernels"] = values.name_table(merged["kernels"], "kernels", where)
    if "kernel_transport" in merged:
        merged["kernel_transport"] = values.name_table(merged["kernel_transport"],
                                                 "kernel_transport", where)
        bad = [k for k, v in merged["kernel_transport"] if v not in ("ipc", "tcp")]
        if bad:
            raise ConfigError(f"{where}: kernel_transport.{bad[0]} must be \"ipc\" or \"tcp\"")
    values.kernel_choice(merged, where)
    if merged.get("failed_pages", "banner") not in ("banner", "omit"):
        raise ConfigError(f"{where}: failed_pages must be \"banner\" or \"omit\"")
    known = {f.name for f in fields(Settings)}
    return Settings(
        course=course,
        out=Path(merged.pop("out", course / DEFAULT_OUT)),
        cache_dir=Path(merged.pop("cache_dir", course / DEFAULT_CACHE_DIR)),
        formats=formats,
        workers=workers,
        config_file=source,
        **{k: v for k, v in merged.items() if k in known},
    )
