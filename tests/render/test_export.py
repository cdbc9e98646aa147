"""Real nbconvert exporters on a hand-made executed notebook."""

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from nbbuild.render.exporters import Exporters, template_cache_dir


def _executed():
    cells = [
        new_markdown_cell("# Deck", metadata={"slideshow": {"slide_type": "slide"}}),
        new_code_cell("print('hi')", execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="hi-from-kernel\n")],
                      metadata={"slideshow": {"slide_type": "fragment"}}),
        new_markdown_cell("secret speaker note", metadata={"slideshow": {"slide_type": "notes"}}),
        new_markdown_cell("## Sub", metadata={"slideshow": {"slide_type": "subslide"}}),
        new_markdown_cell("hidden-in-slides", metadata={"slideshow": {"slide_type": "skip"}}),
    ]
    return new_notebook(cells=cells, metadata={"language_info": {"name": "python"}})


def test_all_formats_from_one_notebook():
    out = Exporters(("html", "slides", "notebook")).render(_executed(), title="My deck")
    html = out["html"].decode()
    assert "<title>My deck</title>" in html and "hi-from-kernel" in html
    assert nbformat.reads(out["notebook"].decode(), as_version=4).cells[1].outputs[0].text == (
        "hi-from-kernel\n")


def test_slides_honour_slideshow_metadata():
    slides = Exporters(("slides",)).render(_executed(), title="t")["slides"].decode()
    assert "reveal" in slides
    assert 'class="fragment"' in slides
    assert '<aside class="notes">' in slides and "secret speaker note" in slides
    assert slides.count("<section") >= 3  # slide + subslide nesting
    assert "hidden-in-slides" not in slides


def test_reveal_url_prefix_is_configurable():
    slides = Exporters(("slides",), reveal_url_prefix="vendor/reveal").render(
        _executed(), title="t")["slides"].decode()
    assert "vendor/reveal/dist/reveal.js" in slides or "vendor/reveal/" in slides


def test_exporter_instances_are_kept_for_the_build():
    ex = Exporters(("html", "slides"))
    ex.render(_executed(), title="a")
    first = dict(ex._instances)
    ex.render(_executed(), title="b")
    assert ex._instances == first and set(first) == {"html", "slides"}


def test_compiled_templates_are_cached_on_disk():
    Exporters(("html",)).warm_up()
    assert any(template_cache_dir().iterdir())
