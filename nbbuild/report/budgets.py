"""Time budgets: how long a notebook's execution may take.

A notebook declares one in its metadata (``nbbuild.budget`` in seconds,
``nbbuild.budget_strict``), or the course does (``budgets`` by glob, the first
match wins, and ``strict_budgets``); the notebook's own wins. Using more than
``WARN_AT`` of it warns; using more than all of it warns, or fails the notebook
when the budget is strict.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbbuild.config import Settings
from nbbuild.course.globs import matches_any
from nbbuild.course.sources import LoadedNotebook
from nbbuild.errors import BudgetError

WARN_AT = 0.8


@dataclass(frozen=True)
class Budget:
    seconds: float
    strict: bool


def budget_for(loaded: LoadedNotebook, settings: Settings) -> Budget | None:
    meta = loaded.nb.metadata.get("nbbuild") or {}
    seconds = meta.get("budget")
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0:
        return Budget(float(seconds), bool(meta.get("budget_strict", settings.strict_budgets)))
    for pattern, course_seconds in settings.budgets:
        if matches_any(loaded.source.rel, [pattern]):
            return Budget(course_seconds, settings.strict_budgets)
    return None


def check(budget: Budget | None, seconds: float, source: str) -> str | None:
    """A warning when ``seconds`` is near or over the budget; raises when a strict
    budget is exceeded."""
    if budget is None or seconds < WARN_AT * budget.seconds:
        return None
    share = f"{seconds:.1f} s of its {budget.seconds:g} s time budget"
    if seconds <= budget.seconds:
        return f"{source} used {100 * seconds / budget.seconds:.0f}% ({share})"
    if budget.strict:
        raise BudgetError(source, f"over its strict time budget: {share}")
    return f"{source} is over its time budget: {share}"
