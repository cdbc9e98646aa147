"""nbbuild's own words in a course's pages, in the page's language.

A German edition says "Antwort:" where an answer was taken out, and marks speaker
notes as "Notizen für Vortragende"; a language without its own words here gets the
English ones. Keys are ISO 639-1 codes, as in ``languages``.
"""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "en": {"answer": "Answer:", "notes": "Speaker notes", "show_code": "Show code",
           "show_output": "Show output", "contents": "Contents", "on_this_page": "On this page",
           "previous": "Previous", "next": "Next", "search": "Search", "page": "Page",
           "slides": "Slides", "notebook": "Notebook", "code": "Code", "home": "Home",
           "no_results": "Nothing found", "completed": "Completed",
           "code-along": "Code-along", "speaker": "Speaker", "lectures": "Lectures",
           "failed": "This lecture failed to build.",
           "failed_end": "It ends at the cell that failed; the cells after it did not run."},
    "de": {"answer": "Antwort:", "notes": "Notizen für Vortragende",
           "show_code": "Code anzeigen", "show_output": "Ausgabe anzeigen",
           "contents": "Inhalt", "on_this_page": "Auf dieser Seite", "previous": "Zurück",
           "next": "Weiter", "search": "Suchen", "page": "Seite", "slides": "Folien",
           "notebook": "Notebook", "code": "Code", "home": "Start",
           "no_results": "Nichts gefunden", "completed": "Vollständig",
           "code-along": "Zum Mitschreiben", "speaker": "Vortragende", "lectures": "Lektionen",
           "failed": "Diese Lektion konnte nicht gebaut werden.",
           "failed_end": "Sie endet mit der fehlgeschlagenen Zelle; die Zellen danach liefen "
                         "nicht."},
    "fr": {"answer": "Réponse :", "notes": "Notes de l'orateur", "show_code": "Afficher le code",
           "show_output": "Afficher la sortie", "contents": "Sommaire",
           "on_this_page": "Sur cette page", "previous": "Précédent", "next": "Suivant",
           "search": "Rechercher", "page": "Page", "slides": "Diapositives",
           "notebook": "Notebook", "code": "Code", "home": "Accueil",
           "no_results": "Aucun résultat", "completed": "Complète",
           "code-along": "À compléter", "speaker": "Orateur", "lectures": "Leçons",
           "failed": "La construction de cette leçon a échoué.",
           "failed_end": "Elle s'arrête à la cellule en échec ; les cellules suivantes n'ont "
                         "pas été exécutées."},
    "es": {"answer": "Respuesta:", "notes": "Notas del ponente", "show_code": "Mostrar código",
           "show_output": "Mostrar salida", "contents": "Contenido",
           "on_this_page": "En esta página", "previous": "Anterior", "next": "Siguiente",
           "search": "Buscar", "page": "Página", "slides": "Diapositivas",
           "notebook": "Notebook", "code": "Código", "home": "Inicio",
           "no_results": "Sin resultados", "completed": "Completa",
           "code-along": "Para completar", "speaker": "Ponente", "lectures": "Lecciones",
           "failed": "Esta lección no se pudo construir.",
           "failed_end": "Termina en la celda que falló; las celdas siguientes no se "
                         "ejecutaron."},
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
