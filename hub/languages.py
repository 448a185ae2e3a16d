"""Which language a text of the catalogue is written in: French or English, told from its words.

The hub keeps no language with the texts operators declare (titles, descriptions, charter and
licence names, attributions, crisis names). RUDI's export tags each text with one, and the UI marks
a passage whose language differs from the page's (WCAG 3.1.2, RGAA 8.7); both tell it from the
text's common words. A text whose words do not tell is left to the default (unmarked in pages).
"""

from __future__ import annotations

import re

FRENCH = frozenset(
    {
        *("le", "la", "les", "des", "du", "de", "et", "en", "une", "un", "pour", "sur", "au"),
        *("aux", "est", "dans", "par", "qui", "que", "avec", "sont", "ces", "cette", "ou", "à"),
        *("d", "l", "données", "mesures", "relevés"),
    }
)
ENGLISH = frozenset(
    {
        *("the", "and", "of", "for", "in", "on", "at", "by", "with", "is", "are", "from", "to"),
        *("a", "an", "this", "these", "which", "data", "that"),
    }
)
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def language_of(text: str, default: str = "en") -> str:
    """`fr` or `en`, from the common words of a text; `default` when they do not tell."""
    words = [w.lower() for w in _WORD.findall(text or "")]
    french = sum(w in FRENCH for w in words)
    english = sum(w in ENGLISH for w in words)
    if french == english:
        return default
    return "fr" if french > english else "en"


def language_unless(page: str, text: str | None, *context: str | None) -> str:
    """What a `lang` attribute must say of `text` on a page in `page`: its language from its own
    words, else from its context's (the other texts of its dataset or charter: a short title
    rarely tells alone), or "" when that is the page's language or nothing tells."""
    around = language_of(". ".join(t for t in context if t), default="")
    told = language_of(text or "", default=around)
    return "" if told == page else told
