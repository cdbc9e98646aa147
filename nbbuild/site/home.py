"""A variant's home page: the course title and introduction, then each section
with its lectures by title, each linking its page, deck, notebook and script;
with links to the homes of the other editions and languages.

It is for students: how the build went is for ``nbbuild report`` and the preview
server, not for the published course.
"""

from __future__ import annotations

import html

from nbbuild.course.labels import page_language
from nbbuild.render.layout import Variant, relative_url
from nbbuild.site.navigation import (
    OPEN_ORDER,
    SiteFrame,
    attr,
    bar,
    format_link,
    head_links,
)
from nbbuild.site.outline import Section


def home_page(frame: SiteFrame, variant: Variant, sections: list[Section],
              intro_html: str) -> str:
    """The home page of ``variant`` (at the top of the output folder)."""
    settings = frame.settings
    here = variant.home
    lang = variant.lang
    fmt = "html" if "html" in settings.formats else settings.formats[0]
    site = frame.page_site(variant, fmt, here, settings.look)
    look_theme = settings.look.theme
    switch = ""
    if len(frame.variants) > 1:
        items = "".join(
            f'<span aria-current="true">{html.escape(frame.variant_label(v, lang))}</span>'
            if v == variant else
            f'<a href="{attr(relative_url(v.home, here))}">'
            f'{html.escape(frame.variant_label(v, lang))}</a>'
            for v in frame.variants)
        switch = f'<nav class="nbb-variants nbb-switch">{items}</nav>\n'
    parts = []
    for section in sections:
        heading = (f'<h2 id="{attr(section.folder.as_posix())}">'
                   f'{html.escape(section.title)}</h2>\n') if section.title else ""
        items = []
        for lecture in section.lectures:
            first = next(f for f in OPEN_ORDER if f in lecture.outputs)
            others = " ".join(
                format_link(fmt, relative_url(lecture.outputs[fmt], here), lang)
                for fmt in OPEN_ORDER if fmt in lecture.outputs and fmt != first)
            items.append(
                f'<li><a class="nbb-lecture" href="'
                f'{attr(relative_url(lecture.outputs[first], here))}">'
                f'{html.escape(lecture.title)}</a>'
                + (f' <span class="nbb-formats">{others}</span>' if others else "") + "</li>")
        parts.append(f'<section class="nbb-section">{heading}<ol>\n'
                     + "\n".join(items) + "\n</ol></section>")
    intro = f'<div class="nbb-intro">{intro_html}</div>\n' if intro_html.strip() else ""
    return (
        f'<!DOCTYPE html>\n<html lang="{page_language(lang)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<title>{html.escape(frame.title)}</title>\n{head_links(site)}</head>\n'
        f'<body class="nbb-home-page nbb-theme-{look_theme}">\n{bar(site, menu=False)}'
        f'<main class="nbb-homepage">\n<h1>{html.escape(frame.title)}</h1>\n{switch}{intro}'
        + "\n".join(parts) +
        f'\n</main>\n<script src="{attr(site.static)}/site.js"></script>\n</body>\n</html>\n'
    )
