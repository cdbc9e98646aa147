"""``nbbuild plan``: the cache's decisions for every notebook, without building.

The same decisions the build makes (cache.py), in course order, with reasons.
Reading only: nothing is executed, written or recorded. In a course with editions
or languages, every notebook is also read for tags nbbuild does not know: each
unknown tag is reported once, with where it appears.
"""

from __future__ import annotations

import functools

from nbbuild.config import Settings
from nbbuild.course.discover import discover
from nbbuild.course.editions import prepare, unknown_tags
from nbbuild.course.sources import load
from nbbuild.errors import NbbuildError
from nbbuild.store.database import Store
from nbbuild.store.decisions import Action, Cache


def plan_course(settings: Settings, *, force: bool = False) -> list[tuple[str, str, list[str]]]:
    """``(source, action, reasons)`` for every notebook, in course order."""
    rows, _ = plan_with_notes(settings, force=force)
    return rows


@functools.lru_cache(maxsize=64)
def tracks_reads(kernel_name: str) -> bool:
    """Whether the kernel reports the files a notebook reads (an ipykernel, with
    nbbuild's tracker); other kernels' notebooks depend on their folder's files.
    An unknown kernel counts as tracking: the build says it is unknown."""
    from nbbuild.kernels.kinds import is_ipykernel, kernelspec_argv

    argv = kernelspec_argv(kernel_name)
    return not argv or is_ipykernel(argv)


def plan_with_notes(
    settings: Settings, *, force: bool = False
) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """The plan's rows, and notes about the sources (unknown tags, once each)."""
    course = discover(settings)
    unknown: dict[str, list[str]] = {}
    with Store(settings.cache_dir) as store:
        cache = Cache(store, settings, force=force, files=course.assets)
        rows = []
        for source in course.sources:
            quick = cache.quick(source)
            if quick is not None and not settings.variants:
                rows.append((source.key, Action.SKIP.value, []))
                continue
            try:
                raw = load(source, settings.max_source_bytes, dict(settings.kernels))
                if source.lang in (None, (settings.languages or (None,))[0]):
                    for tag, cells in unknown_tags(raw).items():
                        where = f"{source.rel} (cell {', '.join(map(str, cells))})"
                        unknown.setdefault(tag, []).append(where)
                loaded = prepare(raw, settings)
            except NbbuildError as exc:
                rows.append((source.key, "error", [str(exc)]))
                continue
            if quick is not None:
                rows.append((source.key, Action.SKIP.value, []))
                continue
            decision, _, _ = cache.decide(loaded)
            reasons = list(decision.reasons)
            if reasons and not tracks_reads(loaded.kernel_name):
                reasons.append(f"dependencies: the files of its folder and [depends] (kernel "
                               f"{loaded.kernel_name!r} cannot report what it reads)")
            rows.append((source.key, decision.action.value, reasons))
    notes = [
        f"unknown tag {tag!r} ignored: {'; '.join(places)}" for tag, places in sorted(unknown.items())
    ]
    return rows, notes
