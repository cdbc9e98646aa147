"""Path globs with ``**`` and natural ordering, for course-relative POSIX paths.

``fnmatch`` lets ``*`` cross folders and ``PurePath.full_match`` needs Python
3.13, so the small translation lives here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from pathlib import PurePosixPath


@functools.lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """``**`` spans folders (also none), ``*`` and ``?`` stay inside one name.

    A pattern without a slash matches a name at any depth (as in .gitignore), and
    a pattern naming a folder also matches everything inside it.
    """
    pattern = pattern.strip().strip("/")
    if "/" not in pattern and pattern != "**":
        pattern = "**/" + pattern
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[" and (end := _class_end(pattern, i)) > 0:
            out.append(_char_class(pattern[i + 1:end]))
            i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + "(?:/.*)?")


def _class_end(pattern: str, start: int) -> int:
    """Where the ``[...]`` class opened at ``start`` ends (its ``]``), or -1 when it
    does not: then ``[`` is an ordinary character, as in fnmatch."""
    i = start + 1
    if i < len(pattern) and pattern[i] in "!^":
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        i += 1  # a leading ] is part of the class
    end = pattern.find("]", i)
    return end if end >= 0 and "/" not in pattern[start:end] else -1


def _char_class(inside: str) -> str:
    """``[abc]``, ``[a-z]``, ``[!0-9]`` as a regular expression; never a slash."""
    negate = inside[:1] in ("!", "^")
    if negate:
        inside = inside[1:]
    body = inside.replace("\\", "\\\\").replace("^", "\\^")
    return f"[^/{body}]" if negate else f"(?!/)[{body}]"


def matches_any(path: PurePosixPath | str, patterns: Iterable[str]) -> bool:
    text = str(path)
    return any(compile_glob(p).fullmatch(text) for p in patterns)


def natural_key(path: PurePosixPath) -> tuple:
    """Sort ``2-x`` before ``10-x`` within each folder level, case-insensitively."""
    key = []
    for part in path.parts:
        chunks = re.split(r"(\d+)", part.casefold())
        key.append(tuple((0, int(c), "") if c.isdigit() else (1, 0, c) for c in chunks if c))
    return tuple(key)
