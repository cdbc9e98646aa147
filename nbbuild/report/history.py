"""``nbbuild report``: the course's recent builds and their trend."""

from __future__ import annotations

import datetime
import statistics

from nbbuild.config import Settings
from nbbuild.report.trend import WINDOW
from nbbuild.store.database import Store


def history_table(settings: Settings, last: int) -> list[str]:
    """Lines of a table of the last builds, newest first."""
    with Store(settings.cache_dir) as store:
        rows = store.builds(last)
        if not rows:
            return [f"no builds recorded in {store.path}"]
        lines = [
            f"{'build':>5}  {'when':16}  {'wall':>7}  {'workers':>7}  {'executed':>8}  "
            f"{'rendered':>8}  {'up to date':>10}  {'failed':>6}  vs usual"
        ]
        for row in rows:
            earlier = [b.wall for b in store.builds(WINDOW + 1, comparable=row.comparable)
                       if b.id < row.id][:WINDOW]
            trend = "-"
            if earlier:
                median = statistics.median(earlier)
                trend = f"{100 * (row.wall / median - 1):+.0f}% ({len(earlier)} builds)"
            c = row.summary["counts"]
            when = datetime.datetime.fromtimestamp(row.created).strftime("%Y-%m-%d %H:%M")
            lines.append(
                f"{row.id:>5}  {when:16}  {row.wall:>6.2f}s  {row.summary['workers']:>7}  "
                f"{c['executed']:>8}  {c['rendered']:>8}  {c['up_to_date']:>10}  "
                f"{c['failed'] + c['errored']:>6}  {trend}"
            )
    return lines
