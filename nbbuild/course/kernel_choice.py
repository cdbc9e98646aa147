"""Which kernel runs a notebook.

Third-party material often names a kernel this machine does not have
(``python2``, a course's own ``py39-course``). Rather than editing every file,
the author says once which kernel to use: the notebook's own ``nbbuild.kernel``
metadata wins, then the first ``kernel`` setting whose notebook glob matches,
then ``kernel_aliases`` applied to the kernel the notebook declares. The
executed notebook then names the kernel it really ran on, as nbconvert's
``--ExecutePreprocessor.kernel_name`` does.
"""

from __future__ import annotations

import functools

import nbformat

from nbbuild.config import Settings
from nbbuild.course.globs import matches_any
from nbbuild.course.sources import LoadedNotebook


def choose(loaded: LoadedNotebook, settings: Settings) -> None:
    """Set ``loaded.kernel_name`` (and the notebook's kernelspec) to the kernel chosen
    for it, and ``loaded.kernel_note`` to why, when a setting chose it."""
    declared = loaded.kernel_name
    chosen, why = _chosen(loaded, settings)
    if chosen is None or chosen == declared:
        return
    loaded.kernel_name = chosen
    loaded.kernel_note = f"kernel {chosen!r} ({why}; the notebook declares {declared!r})"
    spec = nbformat.NotebookNode(name=chosen, display_name=chosen)
    display, language = _spec(chosen)
    if display:
        spec.display_name = display
    if language:
        spec.language = language
    loaded.nb.metadata["kernelspec"] = spec
    if loaded.full is not None:
        loaded.full.metadata["kernelspec"] = spec


def _chosen(loaded: LoadedNotebook, settings: Settings) -> tuple[str | None, str]:
    own = (loaded.nb.metadata.get("nbbuild") or {}).get("kernel")
    if isinstance(own, str) and own.strip():
        return own.strip(), "its metadata nbbuild.kernel"
    for pattern, name in settings.kernel:
        if matches_any(loaded.source.rel, [pattern]):
            where = "kernel" if pattern == "**" else f"kernel.{pattern!r}"
            return name, f"setting {where}"
    for alias, name in settings.kernel_aliases:
        if alias == loaded.kernel_name:
            return name, f"kernel_aliases.{alias}"
    return None, ""


@functools.cache
def _spec(name: str) -> tuple[str, str]:
    """The installed kernelspec's display name and language ("" when not installed:
    the build then says the kernel is unknown)."""
    from nbbuild.kernels.kinds import kernel_spec_manager

    try:
        spec = kernel_spec_manager().get_kernel_spec(name)
    except Exception:
        return "", ""
    return spec.display_name or name, spec.language or ""
