"""``nbbuild plan``: the cache's decisions for every notebook, without building.

The same decisions the build makes (cache.py), in course order, with reasons.
Reading only: nothing is executed, written or recorded. In a course with editions,
every notebook is also read for tags nbbuild does not know: each unknown tag is
reported on one line, with how often and the first places it appears (a course
without editions gives tags no meaning, so none is unknown). With ``explain``,
every notebook is read, so the kernel a setting chose is shown for all of them.
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


def plan_course(settings: Settings, *, force: bool = False, retry_failed: bool = False
                ) -> list[tuple[str, str, list[str]]]:
    """``(source, action, reasons)`` for every notebook, in course order."""
    rows, _ = plan_with_notes(settings, force=force, retry_failed=retry_failed)
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
    settings: Settings, *, force: bool = False, retry_failed: bool = False,
    explain: bool = False,
) -> tuple[list[tuple[str, str, list[str]]], list[str]]:
    """The plan's rows, and notes about the sources (one per unknown tag)."""
    course = discover(settings)
    unknown: dict[str, list[tuple[str, int]]] = {}
    sources_notes: list[str] = []
    with Store(settings.cache_dir) as store:
        cache = Cache(store, settings, force=force, retry_failed=retry_failed,
                      files=course.assets)
        rows = []
        for source in course.sources:
            quick = cache.quick(source)
            if quick is not None and not settings.editions and not explain:
                rows.append((source.key, _action(quick), quick.reasons))
                continue
            try:
                raw = load(source, settings.max_source_bytes, dict(settings.kernels))
                if source.lang in (None, (settings.languages or (None,))[0]):
                    sources_notes.extend(raw.notes)
                if settings.editions and source.lang in (None, (settings.languages or (None,))[0]):
                    for tag, cells in unknown_tags(raw).items():
                        unknown.setdefault(tag, []).append((str(source.rel), len(cells)))
                loaded = prepare(raw, settings)
            except NbbuildError as exc:
                rows.append((source.key, "error", [str(exc)]))
                continue
            decision = quick if quick is not None else cache.decide(loaded)[0]
            reasons = list(decision.reasons)
            if reasons and not tracks_reads(loaded.kernel_name):
                reasons.append(f"dependencies: the files of its folder and [depends] (kernel "
                               f"{loaded.kernel_name!r} cannot report what it reads)")
            if loaded.kernel_note:
                reasons.append(loaded.kernel_note)
            rows.append((source.key, _action(decision), reasons))
    tag_notes = [_tag_note(tag, places) for tag, places in sorted(unknown.items())]
    return rows, sources_notes + tag_notes


def _action(decision) -> str:
    """The plan's word for a decision: a failure kept is "failed", not "up to date"."""
    if decision.action is Action.SKIP and decision.failure is not None:
        return "failed"
    return decision.action.value


def _tag_note(tag: str, places: list[tuple[str, int]]) -> str:
    """One line per unknown tag: how often, and the first few notebooks."""
    cells = sum(n for _, n in places)
    shown = ", ".join(rel for rel, _ in places[:3])
    more = f" and {len(places) - 3} more" if len(places) > 3 else ""
    return (f"unknown tag {tag!r} ignored: {cells} cell{'s' if cells != 1 else ''} in "
            f"{len(places)} notebook{'s' if len(places) != 1 else ''} ({shown}{more})")
