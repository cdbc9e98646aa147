"""Build history: is this build much slower than comparable earlier ones?

Builds are comparable when they ran the same notebooks (the same set executed)
with the same workers and formats: a no-op build is never compared with a full
one. A build more than ``SLOWER`` slower than the median of the last
``WINDOW`` comparable builds gets a warning that names the notebooks that got
slower, and by how much.
"""

from __future__ import annotations

import statistics
from typing import Any

from nbbuild.store.database import Store
from nbbuild.store.keys import digest

WINDOW = 5
SLOWER = 0.20
#: A notebook is named when it is this much slower than its own median (and
#: at least 0.1 s), so noise on tiny notebooks is not reported.
NOTEBOOK_SLOWER = 0.20


def comparable_key(report: dict[str, Any], formats: tuple[str, ...]) -> str:
    executed = sorted(n["source"] for n in report["notebooks"] if "execute" in n["phases"])
    return digest({"workers": report["workers"], "formats": list(formats), "ran": executed})


def slower_than_usual(store: Store, key: str, report: dict[str, Any]) -> str | None:
    """A warning when ``report`` is much slower than comparable earlier builds."""
    earlier = store.builds(WINDOW, comparable=key)
    if len(earlier) < WINDOW:
        return None
    median = statistics.median(b.wall for b in earlier)
    wall = report["wall_seconds"]
    if median <= 0 or wall <= median * (1 + SLOWER):
        return None
    usual: dict[str, list[float]] = {}
    for row in earlier:
        for nb in store.build_report(row.id)["notebooks"]:
            usual.setdefault(nb["source"], []).append(nb["total_seconds"])
    slower = []
    for nb in report["notebooks"]:
        times = usual.get(nb["source"])
        if not times:
            continue
        was = statistics.median(times)
        if nb["total_seconds"] - was >= max(0.1, was * NOTEBOOK_SLOWER):
            slower.append((nb["total_seconds"] - was, nb["source"], was, nb["total_seconds"]))
    slower.sort(reverse=True)
    named = ", ".join(f"{src} ({was:.1f} -> {now:.1f} s)" for _, src, was, now in slower[:5])
    return (
        f"this build took {wall:.1f} s, {100 * (wall / median - 1):.0f}% slower than the "
        f"median of the last {WINDOW} comparable builds ({median:.1f} s)"
        + (f"; slower: {named}" if named else "")
    )
