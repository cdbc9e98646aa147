"""The course site around the rendered notebooks: home pages, navigation, search,
and the look the author chose.

Pages carry only what depends on themselves (their own links, their headings);
what depends on the whole course (the table of contents, previous and next, the
search index) lives in small script files under ``_site/`` that every page loads,
so editing one lecture rewrites that lecture's outputs and those files, never the
other lectures' pages.
"""
