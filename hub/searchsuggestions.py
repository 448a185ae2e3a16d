""" "Did you mean": a correction of a query that found nothing, from the catalogue's own words.

`innondation`, `polution` and `Montpelier` find nothing; the catalogue holds `inondation`,
`pollution` and `Montpellier`. When a search finds nothing, each word of its text that is not a
word of the catalogue (nor shares a stem with one) is replaced by the closest one (same first
letter, `difflib`'s ratio at least CUTOFF), and the corrected text is offered only if it finds
datasets for the same caller, so a suggestion never names what that caller may not find.

The vocabulary is the words of the titles, keywords and record names (places, taxa) of the
search index, and the names of the schemas' enum values and of the thesaurus. It is read once
per database and index generation, at most every REFRESH seconds: the search itself never pays
for it, only a search that found nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlmodel import Session

from hub import search, searchindex, wording
from hub.access import ANONYMOUS, Actor

CUTOFF = 0.8
SHORTEST = 4  # letters of a word worth correcting: shorter ones have too many neighbours
REFRESH = 60.0  # seconds a vocabulary serves after the index changed
FIELDS = ("title", "tags", "names")


@dataclass
class Vocabulary:
    """The catalogue's words (folded → as written, lower case), by first letter, and their stems."""

    generation: int
    read_at: float
    words: dict[str, dict[str, str]] = field(default_factory=dict)
    stems: set[str] = field(default_factory=set)

    def add(self, text: str) -> None:
        for token in wording.tokens(text):
            folded = wording.fold(token)
            if len(folded) >= SHORTEST and not folded.isdigit():
                self.words.setdefault(folded[0], {}).setdefault(folded, token)
            self.stems.update(wording.stems(token))

    def knows(self, token: str) -> bool:
        folded = wording.fold(token)
        return folded in self.words.get(folded[:1], {}) or any(
            s in self.stems for s in wording.stems(token)
        )

    def closest(self, token: str) -> str | None:
        folded = wording.fold(token)
        near = self.words.get(folded[:1], {})
        found = difflib.get_close_matches(folded, near, n=1, cutoff=CUTOFF)
        return near[found[0]] if found else None


_kept: dict[str, Vocabulary] = {}
_lock = threading.Lock()


def suggest(session: Session, query: search.Query, actor: Actor = ANONYMOUS) -> str | None:
    """A corrected text for a query that found nothing, if one finds datasets; else None."""
    tokens = wording.tokens(query.text)
    if not tokens or len(query.text) > 200:
        return None
    vocabulary = _vocabulary(session)
    corrected, changed = [], False
    for token in tokens:
        folded = wording.fold(token)
        if (
            len(folded) < SHORTEST
            or folded.isdigit()
            or folded in wording.STOP_WORDS
            or vocabulary.knows(token)
        ):
            corrected.append(token)
            continue
        closest = vocabulary.closest(token)
        changed |= closest is not None
        corrected.append(closest or token)
    if not changed:
        return None
    text = " ".join(corrected)
    trial = dataclasses.replace(query, text=text, limit=0, offset=0, facets=())
    return text if search.find(session, trial, actor).total else None


def _vocabulary(session: Session) -> Vocabulary:
    connection = session.connection()
    key = str(connection.engine.url)
    generation = searchindex.generation(connection)
    with _lock:
        kept = _kept.get(key)
        if kept is not None and (
            kept.generation == generation or time.monotonic() - kept.read_at < REFRESH
        ):
            return kept
    vocabulary = Vocabulary(generation, time.monotonic())
    values = sa.select(searchindex.searchfield.c.value).where(
        searchindex.searchfield.c.field.in_(FIELDS)
    )
    for (value,) in connection.execute(values.distinct()):
        vocabulary.add(value)
    for names in search.synonyms().values():
        for name in names:
            vocabulary.add(" ".join(name))
    with _lock:
        _kept[key] = vocabulary
    return vocabulary
