"""nbbuild's own words in a course's pages, in the page's language.

A German edition says "Antwort:" where an answer was taken out, and marks speaker
notes as "Notizen für Vortragende"; a language without its own words here gets the
English ones. Keys are ISO 639-1 codes, as in ``languages``.
"""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {"answer": "Answer:", "notes": "Speaker notes", "show_code": "Show code",
           "show_output": "Show output"},
    "de": {"answer": "Antwort:", "notes": "Notizen für Vortragende",
           "show_code": "Code anzeigen", "show_output": "Ausgabe anzeigen"},
    "fr": {"answer": "Réponse :", "notes": "Notes de l'orateur", "show_code": "Afficher le code",
           "show_output": "Afficher la sortie"},
    "es": {"answer": "Respuesta:", "notes": "Notas del ponente", "show_code": "Mostrar código",
           "show_output": "Mostrar salida"},
}
DEFAULT_LANGUAGE = "en"


def label(name: str, lang: str | None) -> str:
    """The word ``name`` in ``lang`` (its base language, ``de`` for ``de-AT``), else English."""
    words = LABELS.get((lang or DEFAULT_LANGUAGE).split("-")[0].lower(), LABELS[DEFAULT_LANGUAGE])
    return words[name]


def page_language(lang: str | None) -> str:
    """The ``<html lang>`` of a page: the course language (its ISO 639-1 part, as
    nbconvert accepts), English by default."""
    return (lang or DEFAULT_LANGUAGE).split("-")[0].split("_")[0].lower()
