"""In which order to run the notebooks.

Results are always reported in course order, but notebooks are independent, so
they may run in any order. Running the longest first (by the last build's times)
keeps a long notebook from starting last and running alone while every other
worker idles: the classic longest-processing-time-first rule, as ninja does with
its build log. Notebooks with no recorded time (new ones, or a first build) go
first, in course order, since nothing says they are short.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nbbuild.model import Source


def execution_order(sources: Sequence[Source], durations: Mapping[str, float]) -> list[int]:
    """Indexes into ``sources``: unknown ones in course order, then longest first."""
    unknown = [i for i, s in enumerate(sources) if s.key not in durations]
    known = [i for i, s in enumerate(sources) if s.key in durations]
    known.sort(key=lambda i: (-durations[sources[i].key], i))
    return unknown + known
