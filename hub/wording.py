"""Words as the catalogue's search sees them: folded, stemmed in English and French, with the
schemas' enum labels as synonyms.

Both stores index and query these terms, so SQLite (FTS5) and PostgreSQL (tsvector) find the same
datasets: `hourly` finds `hours`, `énergie` finds `energy`, `PM₂.₅`, `pm2.5`, `PM2,5` and
`pm 2,5` are one code, and `dioxyde d'azote` (or `dioxydes d'azote`: labels are matched by their
stems too) finds datasets about `no2`.
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
# A code written apart, as the press writes it (`PM 10`, `pm 2,5`, `NO 2`): a run of one to three
# letters then a number of one to three digits is also indexed as one term, and asked as one.
_CODE_CHARS = 3
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
    """A text as the index stores it: every stem of every word, then each code written apart
    (`PM 10`) joined as one term, space-separated."""
    words = tokens(text)
    terms = [s for token in words for s in stems(token)]
    terms += [fold(j) for a, b in zip(words, words[1:], strict=False) if (j := joined(a, b))]
    return " ".join(terms)


def joined(first: str, second: str) -> str | None:
    """`pm` and `10` as the one code `pm10`; None for words that are not a code written apart."""
    if len(second) <= _CODE_CHARS and len(first) <= _CODE_CHARS and second.isdecimal():
        return first + second if first.isalpha() else None
    return None


def _codes_joined(words: list[str]) -> list[str]:
    found: list[str] = []
    for word in words:
        code = joined(found[-1], word) if found else None
        if code is not None:
            found[-1] = code
        else:
            found.append(word)
    return found


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
    kept = _codes_joined([w for w in words if fold(w) not in STOP_WORDS] or words)
    found: list[Word] = []
    position, longest = 0, _longest(synonyms)
    while position < len(kept):
        for size in range(min(longest, len(kept) - position), 0, -1):
            phrase = kept[position : position + size]
            key = next((k for k in _keys(phrase) if k in synonyms), None)
            if key is not None:
                found.append(_synonym_word(tuple(fold(w) for w in phrase), synonyms[key]))
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


class SynonymTable(dict[tuple[str, ...], list[tuple[str, ...]]]):
    """A synonym table that knows its longest name in words (a query reads it every time)."""

    longest = 0


def _longest(synonyms: dict[tuple[str, ...], list[tuple[str, ...]]]) -> int:
    if isinstance(synonyms, SynonymTable):
        return synonyms.longest
    return max((len(k) for k in synonyms), default=0)


def synonym_table(labels: dict[str, list[str]]) -> dict[tuple[str, ...], list[tuple[str, ...]]]:
    """Each name of an enum value (the value itself or a label, as folded words, stop words out)
    → every name of that value, as words (accents kept for the stemmers)."""
    table = SynonymTable()
    for value, names in labels.items():
        group = [g for g in dict.fromkeys(_name_words(n) for n in [value, *names]) if g]
        for name in group:
            for key in _keys(name):
                table[key] = list(dict.fromkeys([*table.get(key, []), *group]))
            table.longest = max(table.longest, len(name))
    return table


_STEMMED = ("\0fr", "\0en")  # marks a key of French or English stems: no folded word is one


def _keys(words: tuple[str, ...] | list[str]) -> list[tuple[str, ...]]:
    """A name's keys in the synonym table: its folded words, then their French and English
    stems, so that `hôpitaux` and `maisons de retraite` find the labels `hôpital` and `maison
    de retraite` (the thesaurus lists its plurals; the schemas' labels do not)."""
    forms = [_forms(w) for w in words]
    return [
        tuple(f[0] for f in forms),
        *((mark, *(f[n] for f in forms)) for n, mark in enumerate(_STEMMED, start=1)),
    ]


@lru_cache(maxsize=200_000)
def _forms(word: str) -> tuple[str, str, str]:
    """A word folded, and its French and English stems folded."""
    french, english = (fold(s.stemWord(word)) for s in _STEMMERS[::-1])
    return fold(word), french, english


def _name_words(name: str) -> tuple[str, ...]:
    words = tokens(name)
    return tuple([w for w in words if fold(w) not in STOP_WORDS] or words)
