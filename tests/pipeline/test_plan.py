from pathlib import Path, PurePosixPath

from nbbuild.model import Source, SourceKind
from nbbuild.pipeline.order import execution_order


def _sources(*names):
    return [Source(path=Path(n), rel=PurePosixPath(n), kind=SourceKind.IPYNB) for n in names]


def test_first_build_runs_in_course_order():
    assert execution_order(_sources("a", "b", "c"), {}) == [0, 1, 2]


def test_known_notebooks_run_longest_first_after_unknown_ones():
    sources = _sources("a", "b", "c", "d", "e")
    durations = {"a": 0.1, "b": 5.0, "d": 1.0, "e": 1.0}
    # c is new: first. Then b (5 s), then d and e (ties keep course order), then a.
    assert execution_order(sources, durations) == [2, 1, 3, 4, 0]
