from pathlib import PurePosixPath as P

import pytest

from nbbuild.course.globs import matches_any, natural_key


@pytest.mark.parametrize(
    "pattern, path, expected",
    [
        ("**", "a/b/c.ipynb", True),
        ("drafts/**", "drafts/x.ipynb", True),
        ("drafts/**", "lectures/drafts.ipynb", False),
        ("drafts", "drafts/deep/x.ipynb", True),
        ("*.py", "a/b/helpers.py", True),
        ("a/*.py", "a/b/helpers.py", False),
        ("a/**/*.py", "a/helpers.py", True),
        ("a/**/*.py", "a/b/c/helpers.py", True),
        ("lecture-?.ipynb", "x/lecture-1.ipynb", True),
        ("lecture-?.ipynb", "x/lecture-10.ipynb", False),
        # [...] classes, as fnmatch has them; never matching a slash
        ("data/[ab]*.csv", "data/a1.csv", True),
        ("data/[ab]*.csv", "data/c1.csv", False),
        ("lec[0-9].py", "x/lec3.py", True),
        ("lec[!0-9].py", "lec3.py", False),
        ("lec[!0-9].py", "lecx.py", True),
        ("a[!x]b", "a/b", False),
        ("a[.py", "a[.py", True),  # no closing bracket: a plain character
    ],
)
def test_glob_semantics(pattern, path, expected):
    assert matches_any(P(path), [pattern]) is expected


def test_natural_order_puts_2_before_10_and_ignores_case():
    paths = [P("10-end.ipynb"), P("2-middle.ipynb"), P("B/1.ipynb"), P("a/1.ipynb")]
    assert sorted(paths, key=natural_key) == [
        P("2-middle.ipynb"),
        P("10-end.ipynb"),
        P("a/1.ipynb"),
        P("B/1.ipynb"),
    ]
