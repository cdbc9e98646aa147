"""``nbbuild plan``: the cache's decisions for every notebook, without building.

The same decisions the build makes (cache.py), in course order, with reasons.
Reading only: nothing is executed, written or recorded.
"""

from __future__ import annotations

from .cache import Action, Cache
from .config import Settings
from .discover import discover
from .errors import NbbuildError
from .sources import load
from .store import Store


def plan_course(settings: Settings, *, force: bool = False) -> list[tuple[str, str, list[str]]]:
    """``(source, action, reasons)`` for every notebook, in course order."""
    course = discover(settings)
    with Store(settings.cache_dir) as store:
        cache = Cache(store, settings, force=force, files=course.assets)
        rows = []
        for source in course.sources:
            quick = cache.quick(source)
            if quick is not None:
                rows.append((str(source.rel), Action.SKIP.value, []))
                continue
            try:
                decision, _, _ = cache.decide(load(source))
            except NbbuildError as exc:
                rows.append((str(source.rel), "error", [str(exc)]))
                continue
            rows.append((str(source.rel), decision.action.value, decision.reasons))
    return rows
