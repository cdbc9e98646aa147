"""The look an author controls: logo, extra stylesheets, prompts, colour theme,
and the slide decks' reveal.js options; set for the course in ``nbbuild.toml``
and per notebook in its metadata (``"nbbuild": {"show_prompts": false}``).

Values are checked here, once, so a typo is a message naming the setting rather
than a broken page.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

THEMES = ("auto", "light", "dark")
TRANSITIONS = ("none", "fade", "slide", "convex", "concave", "zoom")
#: Decks' reveal.js themes that load nothing from the network (the others import
#: web fonts from Google, which an offline classroom cannot reach).
OFFLINE_DECK_THEMES = ("white", "black", "white-contrast", "black-contrast", "dracula",
                       "serif")


class LookError(ValueError):
    """A look setting with a wrong value; the message names it."""


@dataclass(frozen=True)
class SlideLook:
    """reveal.js options of every deck."""

    theme: str = "white"
    transition: str = "slide"
    width: int = 960
    height: int = 700
    #: Slides taller than the screen scroll rather than being cut off.
    scroll: bool = True
    slide_numbers: bool = True
    controls: bool = True


@dataclass(frozen=True)
class Look:
    """What pages and decks look like."""

    #: Course-relative path of an image shown beside the course title.
    logo: str | None = None
    #: Course-relative paths of stylesheets added to every page and deck, last.
    css: tuple[str, ...] = ()
    #: Show ``In [1]:`` / ``Out [1]:`` prompts beside cells.
    show_prompts: bool = True
    #: ``auto`` follows the reader's system (light or dark); or always one.
    theme: str = "auto"
    slides: SlideLook = field(default_factory=SlideLook)

    def with_overrides(self, values: Any, where: str) -> Look:
        """This look with a notebook's own settings (its ``nbbuild`` metadata)."""
        if not values:
            return self
        if not isinstance(values, dict):
            raise LookError(f"{where}: metadata 'nbbuild' must be a table of settings")
        values = {k: v for k, v in values.items() if k not in NOTEBOOK_KEYS}
        return parse_look(values, where, base=self, only=("logo", "css", "show_prompts",
                                                          "theme", "slides"), strict=False)

    def key(self) -> dict[str, Any]:
        """The look as plain JSON data, for the export key: as the store gives it
        back (lists, not tuples), so a recorded key compares equal to a new one."""
        return json.loads(json.dumps(dataclasses.asdict(self)))


def check_look_files(course: Path, look: Look, where: str) -> None:
    """The logo and stylesheets must be files of the course."""
    for name, path in [("logo", look.logo)] + [("css", c) for c in look.css]:
        if path is not None and not (course / path).is_file():
            raise LookError(f"{where}: {name}: {path} is not a file of the course")


LOOK_KEYS = ("logo", "css", "show_prompts", "theme", "slides")
#: The other settings a notebook's ``nbbuild`` metadata may hold (not the look's).
NOTEBOOK_KEYS = ("timeout", "budget", "budget_strict", "kernel")


def parse_look(values: dict[str, Any], where: str, *, base: Look | None = None,
               only: tuple[str, ...] = LOOK_KEYS, strict: bool = True) -> Look:
    """The look from settings ``values`` (other keys ignored unless ``strict`` is
    false, when unknown ones are an error too)."""
    look = base or Look()
    if not strict:
        unknown = sorted(set(values) - set(only))
        if unknown:
            raise LookError(f"{where}: unknown look setting {', '.join(unknown)} "
                            f"(known: {', '.join(only)})")
    changes: dict[str, Any] = {}
    if "logo" in values:
        changes["logo"] = _course_path(values["logo"], f"{where}: logo")
    if "css" in values:
        css = values["css"]
        items = [css] if isinstance(css, str) else css
        if not isinstance(items, list):
            raise LookError(f"{where}: css must be a file name or a list of them")
        changes["css"] = tuple(_course_path(i, f"{where}: css") for i in items)
    if "show_prompts" in values:
        changes["show_prompts"] = _bool(values["show_prompts"], f"{where}: show_prompts")
    if "theme" in values:
        changes["theme"] = _choice(values["theme"], THEMES, f"{where}: theme")
    if "slides" in values:
        changes["slides"] = _slides(values["slides"], look.slides, f"{where}: slides")
    return dataclasses.replace(look, **changes)


def _slides(values: Any, base: SlideLook, where: str) -> SlideLook:
    if not isinstance(values, dict):
        raise LookError(f"{where} must be a table (theme, transition, width, height, "
                        "scroll, slide_numbers, controls)")
    known = {f.name for f in dataclasses.fields(SlideLook)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise LookError(f"{where}: unknown setting {', '.join(unknown)} "
                        f"(known: {', '.join(sorted(known))})")
    changes: dict[str, Any] = {}
    for name, value in values.items():
        here = f"{where}.{name}"
        if name == "theme":
            if value not in OFFLINE_DECK_THEMES:
                raise LookError(
                    f"{here} must be one of {', '.join(OFFLINE_DECK_THEMES)} (not {value!r}; "
                    "reveal.js's other themes load their fonts from the internet)")
            changes[name] = value
        elif name == "transition":
            changes[name] = _choice(value, TRANSITIONS, here)
        elif name in ("width", "height"):
            if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 10000:
                raise LookError(f"{here} must be a whole number of pixels (100 to 10000)")
            changes[name] = value
        else:
            changes[name] = _bool(value, here)
    return dataclasses.replace(base, **changes)


def _course_path(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LookError(f"{where} must be a file of the course (a relative path)")
    path = value.strip().replace("\\", "/")
    if path.startswith("/") or ".." in path.split("/") or ":" in path.split("/")[0]:
        raise LookError(f"{where}: {value!r} must be a path inside the course, "
                        "relative to its top folder")
    return path


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise LookError(f"{where} must be true or false")
    return value


def _choice(value: Any, choices: tuple[str, ...], where: str) -> str:
    if value not in choices:
        raise LookError(f"{where} must be one of {', '.join(choices)} (not {value!r})")
    return value
