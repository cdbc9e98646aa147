"""Render an executed notebook to every requested format with warm exporters.

nbconvert's first export on a new exporter instance costs 80-280 ms (templates,
Jinja environment, Pygments); later exports on the same instance cost ~16 ms. One
``Exporters`` object therefore lives for the whole build, used from one thread.
Pages and decks come from nbconvert's templates through ``pages``, which makes
nbconvert's accessibility edits without re-parsing the page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import nbformat

from nbbuild.course.labels import page_language
from nbbuild.look import Look
from nbbuild.render.views import collapsible

_PLAIN = Look()

#: Compiled nbconvert templates are kept here between builds (``NBBUILD_CACHE_DIR``
#: overrides the user cache folder). Compiling them costs ~0.4 s of CPU per build.
CACHE_ENV = "NBBUILD_CACHE_DIR"


def template_cache_dir() -> Path:
    """Where compiled templates go: ``$NBBUILD_CACHE_DIR/jinja`` or the user cache."""
    base = os.environ.get(CACHE_ENV)
    if not base:
        import platformdirs

        base = platformdirs.user_cache_dir("nbbuild", appauthor=False)
    return Path(base) / "jinja"


class Exporters:
    """The build's exporter instances, created on first use and then reused."""

    def __init__(self, formats: tuple[str, ...], *, reveal_url_prefix: str | None = None,
                 assets: str = "cdn"):
        self.formats = formats
        self.reveal_url_prefix = reveal_url_prefix
        #: ``local``: nbbuild's templates, loading their scripts from ``_static``.
        self.assets = assets
        self._instances: dict[str, Any] = {}

    def render(self, nb: nbformat.NotebookNode, *, title: str) -> dict[str, bytes]:
        """Each format's file content for one executed notebook."""
        return {fmt: self._render(fmt, nb, title) for fmt in self.formats}

    def render_one(self, fmt: str, nb: nbformat.NotebookNode, *, title: str,
                   head: str = "", lang: str | None = None, static: str = "_static",
                   look: Look | None = None) -> bytes:
        """One format's file content; ``head`` is markup added to a page's <head>
        (the speaker edition's style for notes); ``lang`` the page's language;
        ``static`` the URL of the output's ``_static`` folder, relative to the page;
        ``look`` the author's choices (prompts, theme, decks' options)."""
        data = self._render(fmt, nb, title, page_language(lang), static, look or Look())
        if fmt == "html":
            if head:
                data = data.replace(b"</head>", head.encode("utf-8") + b"</head>", 1)
            data = collapsible(data, lang)
        return data

    def warm_up(self) -> None:
        """Pay each exporter's first-use cost now, while the first kernels boot."""
        from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

        nb = new_notebook(
            cells=[new_markdown_cell("# warm-up"), new_code_cell("1 + 1")],
            metadata={"language_info": {"name": "python", "pygments_lexer": "ipython3"}},
        )
        self.render(nb, title="warm-up")

    def _render(self, fmt: str, nb: nbformat.NotebookNode, title: str,
                lang: str = "en", static: str = "_static", look: Look = _PLAIN) -> bytes:
        if fmt == "notebook":
            return (nbformat.writes(nb) + "\n").encode("utf-8")
        if fmt == "code":
            return script(nb).encode("utf-8")
        if fmt == "slides" and not any(_on_a_slide(c) for c in nb.cells):
            nb = _title_slide(nb, title)
        exporter = self._exporter(fmt)
        exporter.language_code = lang  # nbconvert's <html lang>; one thread renders
        _apply_look(exporter, fmt, look)
        resources = _resources(title)
        resources["nbbuild_controls"] = look.slides.controls
        if self.assets == "local":  # each page finds _static relative to itself
            from nbbuild.render.assets import mathjax_url, reveal_prefix

            exporter.mathjax_url = mathjax_url(static)
            if fmt == "slides":
                exporter.reveal_url_prefix = reveal_prefix(static)
            resources["nbbuild_static"] = static
        body, _ = exporter.from_notebook_node(nb, resources=resources)
        return body.encode("utf-8")

    def _exporter(self, fmt: str) -> Any:
        if fmt not in self._instances:
            self._instances[fmt] = self._create(fmt)
        return self._instances[fmt]

    def _create(self, fmt: str) -> Any:
        from nbbuild.render.pages import DeckExporter, PageExporter, prepare

        own: dict[str, Any] = {}
        if self.assets == "local":  # nbbuild's templates: scripts from _static
            from nbbuild.render.assets import templates_dir

            own = {"extra_template_paths": [templates_dir()],
                   "template_file": "nbbuild_page.html.j2" if fmt == "html"
                   else "nbbuild_deck.html.j2"}
        if fmt == "html":
            exporter = PageExporter(**own)
        elif fmt == "slides":
            exporter = DeckExporter(**own)
            if self.reveal_url_prefix:
                exporter.reveal_url_prefix = self.reveal_url_prefix
        else:
            raise ValueError(f"unknown format {fmt!r}")
        exporter.environment.bytecode_cache = _bytecode_cache()
        return prepare(exporter)


def _apply_look(exporter: Any, fmt: str, look: Look) -> None:
    """The author's look as the exporter's options, set before each render (the
    instance is shared by every notebook; one thread renders)."""
    exporter.exclude_input_prompt = not look.show_prompts
    exporter.exclude_output_prompt = not look.show_prompts
    exporter.theme = "dark" if look.theme == "dark" else "light"
    if fmt == "slides":
        slides = look.slides
        exporter.reveal_transition = slides.transition
        exporter.reveal_number = "c/t" if slides.slide_numbers else ""
        exporter.reveal_width = str(slides.width)
        exporter.reveal_height = str(slides.height)
        exporter.reveal_scroll = slides.scroll
        exporter.reveal_theme = slides.theme


def _bytecode_cache() -> Any:
    """Jinja's file cache of compiled templates, which never fails a render.

    Entries are keyed by template name and source checksum, so an upgraded or
    edited template is recompiled, never served stale.
    """
    from jinja2 import FileSystemBytecodeCache

    class QuietCache(FileSystemBytecodeCache):
        def load_bytecode(self, bucket: Any) -> None:
            try:
                super().load_bytecode(bucket)
            except (OSError, EOFError, ValueError):
                bucket.reset()

        def dump_bytecode(self, bucket: Any) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    directory = template_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return QuietCache(str(directory))


def script(nb: nbformat.NotebookNode) -> str:
    """The notebook as a clean percent-format script in its kernel's language (``#
    %%`` cells for Python and bash, ``// %%`` for TypeScript): cells and their
    tags, no outputs, no notebook metadata (jupytext writes it, and reads it back)."""
    import jupytext

    from nbbuild.course.languages import script_extension

    language = (nb.metadata.get("kernelspec") or {}).get("language")
    return jupytext.writes(nb, fmt={
        "extension": script_extension(language),
        "format_name": "percent",
        "notebook_metadata_filter": "-all",
        "cell_metadata_filter": "tags,-all",
    })


def _resources(title: str) -> dict[str, Any]:
    # nbconvert takes the page <title> from metadata.name.
    return {"metadata": {"name": title}}


def _on_a_slide(cell) -> bool:
    """Whether a cell shows in a deck (not skipped, not a speaker note)."""
    kind = (cell.get("metadata", {}).get("slideshow") or {}).get("slide_type")
    return kind not in ("skip", "notes")


def _title_slide(nb: nbformat.NotebookNode, title: str) -> nbformat.NotebookNode:
    """A deck with nothing to show (an empty notebook) gets a slide with its title:
    nbconvert refuses to make a deck of no slides."""
    import copy

    out = copy.copy(nb)
    out.cells = [nbformat.v4.new_markdown_cell(f"# {title}"), *nb.cells]
    return out
