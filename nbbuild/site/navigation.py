"""What every page and deck carries of the site: a bar with the course title
(home), the search box and the menu; this lecture's other formats and its other
editions and languages; the contents of the page from its headings; and empty
places that ``site.js`` fills from the variant's outline (table of contents,
previous and next), so a change of the course's outline rewrites one small
script, not every page.

Only what depends on the page itself and on the settings is baked in; all of it
is covered by the export key (store/keys.py).
"""

from __future__ import annotations

import dataclasses
import html
from dataclasses import dataclass
from pathlib import PurePosixPath

from nbbuild.config import Settings
from nbbuild.course.labels import label
from nbbuild.look import Look
from nbbuild.model import Source
from nbbuild.render.assets import STATIC
from nbbuild.render.layout import (
    Variant,
    outputs_of,
    relative_url,
    split_key,
    variant_folder,
    variants,
)
from nbbuild.site import search
from nbbuild.site.outline import course_title

SITE_STATIC = STATIC / "nbbuild"
#: Formats by how a lecture is best opened.
OPEN_ORDER = ("html", "slides", "notebook", "code")


@dataclass(frozen=True)
class PageSite:
    """What one output needs to know of the site, as URLs relative to it."""

    title: str
    home: str
    static: str
    outline: str
    search: str
    #: The output's own path under the output folder (marks it in the contents).
    here: str
    root: str
    lang: str | None
    look: Look
    logo: str | None
    css: tuple[str, ...]
    #: (format, URL) of this lecture's other outputs in the same variant.
    formats: tuple[tuple[str, str], ...]
    #: (label, URL or "" for this one) of the same lecture in the other variants.
    variants: tuple[tuple[str, str], ...]


class SiteFrame:
    """The site's fixed parts for one build: the course title and the variants."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.title = course_title(settings)
        self.variants = variants(settings)

    def variant(self, lang: str | None, edition: str | None) -> Variant:
        if not self.settings.variants:
            return self.variants[0]
        return next(v for v in self.variants if v.lang == lang and v.edition == edition)

    def for_output(self, source: Source, key: str, paths: dict[str, PurePosixPath],
                   look: Look) -> PageSite:
        """The site as output ``key`` of ``source`` (at ``paths[key]``) sees it."""
        settings = self.settings
        edition, fmt = split_key(key)
        here = paths[key]
        variant = self.variant(source.lang, edition if settings.variants else None)
        formats = tuple((f, relative_url(paths[variant.output(f)], here))
                        for f in OPEN_ORDER if f != fmt and variant.output(f) in paths)
        return self.page_site(variant, fmt, here, look, formats,
                              self._others(source, variant, fmt, here))

    def page_site(self, variant: Variant, fmt: str, here: PurePosixPath, look: Look,
                  formats: tuple[tuple[str, str], ...] = (),
                  others: tuple[tuple[str, str], ...] = ()) -> PageSite:
        """The site as a file at ``here`` of ``variant`` sees it. The logo and the
        stylesheets are the course's copies in the folder that mirrors the course
        for format ``fmt``, so their own relative URLs keep working."""
        mirror = variant_folder(self.settings, variant.lang, variant.edition or "", fmt) \
            if self.settings.variants else PurePosixPath(".")
        return PageSite(
            title=self.title,
            home=relative_url(variant.home, here),
            static=relative_url(SITE_STATIC, here),
            outline=relative_url(variant.outline_file, here),
            search=relative_url(variant.search_file, here)
            if "html" in self.settings.formats else "",
            here=here.as_posix(),
            root=relative_url(PurePosixPath("."), here),
            lang=variant.lang,
            look=look,
            logo=relative_url(mirror / look.logo, here) if look.logo else None,
            css=tuple(relative_url(mirror / c, here) for c in look.css),
            formats=formats,
            variants=others,
        )

    def _others(self, source: Source, variant: Variant, fmt: str,
                here: PurePosixPath) -> tuple[tuple[str, str], ...]:
        if len(self.variants) < 2:
            return ()
        found = []
        for other in self.variants:
            if other.lang != source.lang:
                paths = outputs_of(self.settings, dataclasses.replace(source, lang=other.lang))
            else:
                paths = outputs_of(self.settings, source)
            target = paths.get(other.output(fmt))
            if target is None:
                continue
            found.append((self.variant_label(other, source.lang),
                          "" if other == variant else relative_url(target, here)))
        return tuple(found)

    def variant_label(self, variant: Variant, lang: str | None) -> str:
        """How a variant is named to a reader of language ``lang``."""
        parts = []
        if len(self.settings.languages) > 1 and variant.lang:
            parts.append(variant.lang.upper())
        if len(self.settings.edition_names) > 1 and variant.edition:
            parts.append(label(variant.edition, lang))
        return " · ".join(parts) or "—"


def head_links(site: PageSite, *, deck: bool = False) -> str:
    """Stylesheets: nbbuild's, the dark theme when the reader's system asks for it,
    then the author's."""
    links = []
    if not deck:
        links.append(f'<link rel="stylesheet" href="{attr(site.static)}/site.css">')
        if site.look.theme == "auto":
            links.append(f'<link rel="stylesheet" href="{attr(site.static)}/theme-dark.css" '
                         'media="(prefers-color-scheme: dark)">')
    links += [f'<link rel="stylesheet" href="{attr(url)}">' for url in site.css]
    return "\n".join(links) + "\n"


def bar(site: PageSite, *, menu: bool = True) -> str:
    """The bar at the top: menu button, logo and course title (home), search."""
    lang = site.lang
    logo = f'<img class="nbb-logo" src="{attr(site.logo)}" alt="">' if site.logo else ""
    button = (f'<button class="nbb-menu" type="button" aria-controls="nbb-side" '
              f'aria-expanded="false" aria-label="{attr(label("contents", lang))}">'
              '<span aria-hidden="true">&#9776;</span></button>') if menu else ""
    return (
        f'<header class="nbb-bar" data-root="{attr(site.root)}" data-page="{attr(site.here)}" '
        f'data-search="{attr(site.search)}" data-none="{attr(label("no_results", lang))}">'
        f'{button}<a class="nbb-home" href="{attr(site.home)}">{logo}'
        f'<span>{html.escape(site.title)}</span></a>'
        '<div class="nbb-search" role="search">'
        f'<input type="search" placeholder="{attr(label("search", lang))}" '
        f'aria-label="{attr(label("search", lang))}" autocomplete="off">'
        '<ol class="nbb-results" hidden></ol></div></header>\n'
    )


def decorate_page(page: bytes, site: PageSite) -> bytes:
    """A rendered lecture page with the site around it."""
    text = page.decode("utf-8")
    lang = site.lang
    heads = [h for h in search.headings(text) if h[0] <= 3]
    if heads and heads[0][0] == 1:
        heads = heads[1:]  # the lecture's title
    onpage = ""
    if heads:
        items = "".join(f'<li class="nbb-h{level}"><a href="#{attr(anchor)}">'
                        f'{html.escape(words)}</a></li>' for level, anchor, words in heads)
        onpage = (f'<div class="nbb-onpage"><p>{html.escape(label("on_this_page", lang))}</p>'
                  f'<ul>{items}</ul></div>')
    side = (f'<nav id="nbb-side" class="nbb-side" aria-label="{attr(label("contents", lang))}">'
            f'<div class="nbb-toc"><a href="{attr(site.home)}">'
            f'{html.escape(label("contents", lang))}</a></div>{onpage}</nav>\n')
    links = "".join(format_link(fmt, url, lang) for fmt, url in site.formats)
    others = "".join(
        f'<a href="{attr(url)}">{html.escape(name)}</a>' if url else
        f'<span aria-current="true">{html.escape(name)}</span>'
        for name, url in site.variants)
    strip = ""
    if links or others:
        strip = (f'<nav class="nbb-links">{links}'
                 + (f'<span class="nbb-variants">{others}</span>' if others else "")
                 + "</nav>\n")
    pager = (f'<nav class="nbb-pager" data-previous="{attr(label("previous", lang))}" '
             f'data-next="{attr(label("next", lang))}"></nav>\n')
    scripts = (f'<script src="{attr(site.outline)}"></script>\n'
               f'<script src="{attr(site.static)}/site.js"></script>\n')
    text = _insert_before(text, "</head>", head_links(site))
    text = _insert_after_tag(text, "<body", bar(site) + side,
                             f"nbb-page nbb-theme-{site.look.theme}")
    text = _insert_after_tag(text, "<main", strip)
    text = _insert_before(text, "</main>", pager, last=True)
    text = _insert_before(text, "</body>", scripts, last=True)
    return text.encode("utf-8")


def decorate_deck(deck: bytes, site: PageSite) -> bytes:
    """A deck with the author's stylesheets and a small link back to its page
    (or to the home page when the course has no pages)."""
    text = deck.decode("utf-8")
    lang = site.lang
    back = dict(site.formats).get("html")
    href, words = (back, label("page", lang)) if back else (site.home, site.title)
    link = (f'<a class="nbb-back" href="{attr(href)}" style="position:fixed;left:.6rem;'
            'bottom:.5rem;z-index:40;font:14px/1.2 system-ui,sans-serif;opacity:.6;'
            f'color:inherit">&#8592; {html.escape(words)}</a>\n')
    text = _insert_before(text, "</head>", head_links(site, deck=True))
    text = _insert_after_tag(text, "<body", link)
    return text.encode("utf-8")


_FORMAT_LABEL = {"html": "page", "slides": "slides", "notebook": "notebook", "code": "code"}


def format_link(fmt: str, url: str, lang: str | None) -> str:
    """A link to a lecture's output of format ``fmt``; notebooks and scripts are
    downloads."""
    download = " download" if fmt in ("notebook", "code") else ""
    return (f'<a class="nbb-{fmt}" href="{attr(url)}"{download}>'
            f'{html.escape(label(_FORMAT_LABEL[fmt], lang))}</a>')


def attr(value: str) -> str:
    """``value`` escaped for an attribute in double quotes."""
    return html.escape(value, quote=True)


def _insert_before(text: str, marker: str, addition: str, last: bool = False) -> str:
    at = text.rfind(marker) if last else text.find(marker)
    return text if at < 0 else text[:at] + addition + text[at:]


def _insert_after_tag(text: str, opening: str, addition: str, add_class: str = "") -> str:
    """``addition`` right after the first ``opening`` tag (``<body``); with
    ``add_class``, that class is added to the tag's ``class`` attribute."""
    at = text.find(opening)
    if at < 0:
        return text
    end = text.find(">", at)
    if end < 0:
        return text
    tag = text[at:end]
    if add_class:
        if 'class="' in tag:
            tag = tag.replace('class="', f'class="{add_class.strip()} ', 1)
        else:
            tag += f' class="{add_class.strip()}"'
    return text[:at] + tag + ">" + addition + text[end + 1:]
