"""Indexed terms as SQLite's FTS5 tokenizer cuts them, so the term postings hold FTS5's tokens.

`searchfts` (migration 0007) splits its columns with `unicode61 remove_diacritics 0`. The text it
is given is `wording.index_terms`: folded words and stems joined by spaces. For ASCII text that
split is all FTS5 does; a few letters of other scripts it folds or cuts further (the Greek final
ς becomes σ; Tamil ஔ and Myanmar ဦ, which `wording.fold` leaves as a letter and a spacing mark,
become two tokens). So a term with other characters is cut by FTS5 itself, in an in-memory table
with the same tokenizer, once per term and process (a text's new terms at once).
"""

from __future__ import annotations

import re
import sqlite3
import threading

TOKENIZER = "unicode61 remove_diacritics 0"  # as migration 0007 creates searchfts
_ASCII_TOKEN = re.compile(r"[a-z0-9]+")  # unicode61's ASCII token characters, folded
_KNOWN = 200_000  # terms of other scripts kept cut, per process
_KEPT_CHARS = 100  # a longer term (a query can be one 100 kB word) is cut again each time
_known: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()
_tokenizer: sqlite3.Connection | None = None


def tokens(text: str) -> list[str]:
    """The FTS5 tokens of an indexed text, in order."""
    if text.isascii():
        return _ASCII_TOKEN.findall(text.lower())
    terms = text.split()
    cut = {term: _known.get(term) for term in terms}
    unknown = [term for term, known in cut.items() if known is None]
    if unknown:
        cut.update(_learn(unknown))
    return [token for term in terms for token in cut[term] or ()]


def token(term: str) -> str | None:
    """The one FTS5 token a query term is; None when FTS5 makes it none, or a phrase of
    several."""
    found = tokens(term)
    return found[0] if len(found) == 1 else None


def _learn(terms: list[str]) -> dict[str, tuple[str, ...]]:
    """Cut these terms, the other scripts' all at once in FTS5's own tokenizer (and keep them,
    up to _KNOWN terms of up to _KEPT_CHARS)."""
    cut = {t: tuple(_ASCII_TOKEN.findall(t.lower())) for t in terms if t.isascii()}
    others = [t for t in terms if not t.isascii()]
    if others:
        with _lock:
            connection = _connection()
            try:
                connection.executemany(
                    "INSERT INTO cut (rowid, text) VALUES (?, ?)", enumerate(others, start=1)
                )
                found: dict[int, list[str]] = {}
                for doc, term in connection.execute(
                    "SELECT doc, term FROM cut_tokens ORDER BY doc, offset"
                ):
                    found.setdefault(doc, []).append(term)
            finally:
                connection.rollback()  # the table stays empty
        cut.update({t: tuple(found.get(n, ())) for n, t in enumerate(others, start=1)})
    kept = {term: found for term, found in cut.items() if len(term) <= _KEPT_CHARS}
    if len(_known) + len(kept) > _KNOWN:
        _known.clear()
    _known.update(kept)
    return cut


def _connection() -> sqlite3.Connection:
    global _tokenizer
    if _tokenizer is None:
        connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.execute(f"CREATE VIRTUAL TABLE cut USING fts5(text, tokenize = '{TOKENIZER}')")
        connection.execute("CREATE VIRTUAL TABLE cut_tokens USING fts5vocab(cut, 'instance')")
        _tokenizer = connection
    return _tokenizer
