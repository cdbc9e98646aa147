"""Checking and converting the values of a course file, one kind of value each:
a message names the file and the key, never a traceback.
"""

from __future__ import annotations

from typing import Any

from nbbuild.errors import ConfigError

FORMATS = ("html", "slides", "notebook", "code")
EDITIONS = ("completed", "code-along", "speaker")


def check_limits(merged: dict[str, Any], where: str) -> None:
    """Time-outs and size limits must be positive."""
    for key in ("timeout", "startup_timeout", "notebook_timeout", "heartbeat_timeout"):
        if key in merged and not merged[key] > 0:
            raise ConfigError(f"{where}: {key} must be a positive number of seconds")
    if "max_outputs" in merged and merged["max_outputs"] < 1:
        raise ConfigError(f"{where}: max_outputs must be a whole number of at least 1")
    for key in ("max_output_mb", "kernel_memory_mb", "max_source_mb"):
        if key in merged and not merged[key] > 0:
            raise ConfigError(f"{where}: {key} must be a positive number of megabytes")


def name_table(value: dict[str, Any], key: str, where: str, what: str = "a name",
                strip: str = ".") -> tuple[tuple[str, str], ...]:
    """A table of texts (``[kernels]``, ``[sections]``) as pairs, each checked."""
    found = []
    for name, chosen in value.items():
        if not isinstance(chosen, str) or not chosen.strip():
            raise ConfigError(f"{where}: {key}.{name} must be {what} (text)")
        found.append((str(name).strip(strip), chosen.strip()))
    return tuple(found)


def kernel_choice(merged: dict[str, Any], where: str) -> None:
    """``kernel`` (a name, or names by notebook glob) and ``kernel_aliases`` as pairs."""
    if "kernel" in merged:
        value = merged["kernel"]
        if isinstance(value, str):
            value = {"**": value}
        merged["kernel"] = tuple((glob.strip() or "**", name) for glob, name in
                                 name_table(value, "kernel", where, "a kernel name", ""))
    if "kernel_aliases" in merged:
        merged["kernel_aliases"] = name_table(merged["kernel_aliases"], "kernel_aliases", where,
                                              "a kernel name", "")


def budgets(value: dict[str, Any], where: str) -> tuple[tuple[str, float], ...]:
    budgets = []
    for pattern, seconds in value.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            raise ConfigError(f"{where}: budgets.{pattern} must be a positive number of seconds")
        budgets.append((str(pattern), float(seconds)))
    return tuple(budgets)


def name_list(value: Any) -> tuple[str, ...]:
    """Names from ``"a,b"`` or ``["a", "b"]``: stripped, blanks and repeats dropped."""
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(str(i).strip() for i in items if str(i).strip()))


def formats(value: Any, where: str) -> tuple[str, ...]:
    names = name_list(value)
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ConfigError(
            f"{where}: unknown format {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(FORMATS)}"
        )
    return names


def module_names(value: Any, where: str) -> tuple[str, ...]:
    names = name_list(value)
    bad = [n for n in names if not all(part.isidentifier() for part in n.split("."))]
    if bad:
        raise ConfigError(f"{where}: preload: not a module name: {', '.join(bad)}")
    return names


def editions(value: Any, where: str) -> tuple[str, ...]:
    names = name_list(value)
    unknown = [n for n in names if n not in EDITIONS]
    if unknown:
        raise ConfigError(
            f"{where}: unknown edition {', '.join(unknown)}; choose from {', '.join(EDITIONS)}"
        )
    return names


def languages(value: Any, where: str) -> tuple[str, ...]:
    names = name_list(value)
    bad = [n for n in names if not n.replace("-", "").replace("_", "").isalnum()]
    if bad:
        raise ConfigError(f"{where}: languages: not a language code: {', '.join(bad)}")
    return names


def check_layout(layout: str, where: str) -> None:
    try:
        parts = layout.format(lang="l", edition="e", format="f").split("/")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{where}: layout {layout!r}: only {{lang}}, {{edition}} and {{format}} may be used "
            f"({exc})"
        ) from None
    if layout.startswith("/") or ".." in parts:
        raise ConfigError(f"{where}: layout {layout!r} must be a relative folder path")


def strings(value: Any, key: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of glob strings")
    return tuple(value)
