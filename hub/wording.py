"""Words as the catalogue's search sees them: folded, stemmed in English and French, with the
schemas' enum labels as synonyms.

Both stores index and query these terms, so SQLite (FTS5) and PostgreSQL (tsvector) find the same
datasets: `hourly` finds `hours`, `énergie` finds `energy`, `PM₂.₅`, `pm2.5` and `PM2,5` are one
code, and `dioxyde d'azote` finds datasets about `no2`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

# A decimal point or comma inside a code or number joins its parts: pm2.5 and pm2,5 are pm25.
_TOKEN = re.compile(r"[^\W_]+(?:[.,]\d+)*")
_STEMMERS = (snowballstemmer.stemmer("english"), snowballstemmer.stemmer("french"))
# Dropped from queries (a query of nothing else keeps them): elided articles, prepositions.
STOP_WORDS = frozenset(
    {
        *("a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it"),
        *("of", "on", "or", "the", "to", "with", "au", "aux", "c", "d", "de", "des", "du"),
        *("en", "est", "et", "l", "la", "le", "les", "n", "ou", "par", "pour", "qu", "s"),
        *("sur", "un", "une"),
    }
)


def fold(text: str) -> str:
    """Lower case, compatibility forms (₂ is 2, ³ is 3) and no accents: `Énergie` is `energie`."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokens(text: str) -> list[str]:
    """The words of a text, lower case, accents kept (the French stemmer reads them)."""
    lowered = unicodedata.normalize("NFKC", text).lower()
    return [re.sub(r"[.,]", "", t) for t in _TOKEN.findall(lowered)]


@lru_cache(maxsize=200_000)
def stems(token: str) -> tuple[str, ...]:
    """A word's English and French stems, folded (one when they agree)."""
    found = dict.fromkeys(fold(s.stemWord(token)) for s in _STEMMERS)
    return tuple(s for s in found if s)


def index_terms(text: str) -> str:
    """A text as the index stores it: every stem of every word, space-separated."""
    return " ".join(s for token in tokens(text) for s in stems(token))


Alternatives = tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Word:
    """One word of a query, matched by any of its stems, or any of its synonyms (each synonym a
    sequence of words that must all appear)."""

    text: str
    stems: tuple[str, ...]
    synonyms: tuple[Alternatives, ...] = ()


def query_words(text: str, synonyms: dict[tuple[str, ...], list[tuple[str, ...]]]) -> list[Word]:
    """The words of a query; a phrase that is an enum value or one of its labels (the longest
    first) becomes one word matched by the value or any label."""
    words = tokens(text)
    kept = [w for w in words if fold(w) not in STOP_WORDS] or words
    found: list[Word] = []
    position, longest = 0, max((len(k) for k in synonyms), default=0)
    while position < len(kept):
        for size in range(min(longest, len(kept) - position), 0, -1):
            phrase = tuple(fold(w) for w in kept[position : position + size])
            if phrase in synonyms:
                found.append(_synonym_word(phrase, synonyms[phrase]))
                position += size
                break
        else:
            token = kept[position]
            found.append(Word(token, stems(token)))
            position += 1
    return found


def _synonym_word(phrase: tuple[str, ...], group: list[tuple[str, ...]]) -> Word:
    """A phrase matched by its own words or by any other name of the same enum value."""
    # Names that differ only in their form (`incendie`, `incendies`) are one alternative.
    alternatives = tuple(dict.fromkeys(tuple(stems(w) for w in name) for name in group))
    return Word(" ".join(phrase), (), alternatives)


def synonym_table(labels: dict[str, list[str]]) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Each name of an enum value (the value itself or a label, as folded words, stop words out)
    → every name of that value, as words (accents kept for the stemmers)."""
    table: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for value, names in labels.items():
        group = [g for g in dict.fromkeys(_name_words(n) for n in [value, *names]) if g]
        for name in group:
            key = tuple(fold(w) for w in name)
            table[key] = list(dict.fromkeys([*table.get(key, []), *group]))
    return table


def _name_words(name: str) -> tuple[str, ...]:
    words = tokens(name)
    return tuple([w for w in words if fold(w) not in STOP_WORDS] or words)
