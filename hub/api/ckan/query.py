"""CKAN's Lucene-style query sub-grammar (q and fq) as predicates over a package's index."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime
from fnmatch import translate
from functools import lru_cache
from typing import Any

from hub.api.ckan.errors import SearchQueryError

Doc = dict[str, list[str]]
Predicate = Callable[[Doc], bool]

TEXT_FIELDS = {"text", "title", "notes"}
# A range stops at the next bracket of either kind: "[[[[…" tokenizes in linear time.
_TOKEN = re.compile(r'\s+|\(|\)|"(?:[^"\\]|\\.)*"|\[[^\[\]]*\]|\{[^{}]*\}|[^\s()"\[\]{}]+|\S')
WORD = re.compile(r"\w+")
# Bounds on q and fq together, checked before any parsing: each term is matched against every
# package in memory (256 terms over 2 000 packages: about half a second), and nesting recurses.
# Solr's own limit is 1024 clauses (maxBooleanClauses).
MAX_CHARS = 10_000
MAX_TERMS = 256
MAX_DEPTH = 32
MAX_PATTERN = 100  # characters of one wildcard value
OPERATORS = {"(", ")", "AND", "OR", "NOT", "&&", "||", "!", "+", "-"}


def parse_all(texts: list[str]) -> list[Predicate]:
    """Predicates for several queries (q and the filters), within the bounds on their size."""
    if sum(len(t) for t in texts) > MAX_CHARS:
        raise SearchQueryError(f"the query and filters are longer than {MAX_CHARS} characters")
    tokenized = [tokens_of(t) for t in texts]
    if sum(1 for tokens in tokenized for t in tokens if t not in OPERATORS) > MAX_TERMS:
        raise SearchQueryError(f"the query and filters have more than {MAX_TERMS} terms")
    return [parse(text, tokens) for text, tokens in zip(texts, tokenized, strict=True)]


def tokens_of(text: str) -> list[str]:
    """The tokens of a query: words, field:value, phrases, ranges, parentheses."""
    return [t for t in _TOKEN.findall(text) if t.strip()]


def parse(text: str, tokens: list[str] | None = None) -> Predicate:
    """A predicate for a Lucene-style query: field:value, "phrases", ranges, AND/OR/NOT, +/-."""
    if tokens is None:
        return parse_all([text])[0]
    parser = _Parser(tokens, text)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise SearchQueryError(f"cannot parse {text!r} near {tokens[parser.position]!r}")
    return predicate


class _Parser:
    """Recursive descent over tokens; the default operator is AND, as in CKAN's Solr schema."""

    def __init__(self, tokens: list[str], text: str) -> None:
        self.tokens, self.text, self.position, self.depth = tokens, text, 0, 0

    def nested(self, inner: Callable[[], Predicate]) -> Predicate:
        """Parse one level deeper (a group or a negation), refusing past MAX_DEPTH."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise SearchQueryError(f"the query nests deeper than {MAX_DEPTH} levels")
        try:
            return inner()
        finally:
            self.depth -= 1

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise SearchQueryError(f"unexpected end of {self.text!r}")
        self.position += 1
        return token

    def expression(self) -> Predicate:
        alternatives = [self.conjunction()]
        while self.peek() in ("OR", "||"):
            self.take()
            alternatives.append(self.conjunction())
        return (
            alternatives[0]
            if len(alternatives) == 1
            else (lambda doc: any(p(doc) for p in alternatives))
        )

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() not in (None, ")", "OR", "||"):
            if self.peek() in ("AND", "&&"):
                self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda doc: all(p(doc) for p in parts))

    def unary(self) -> Predicate:
        token = self.peek()
        if token in ("NOT", "!", "-", "+"):
            self.take()
            inner = self.nested(self.unary)
            return inner if token == "+" else (lambda doc: not inner(doc))
        if token and len(token) > 1 and token[0] in "+-" and token not in ("+", "-"):
            self.tokens[self.position] = token[1:]
            inner = self.nested(self.unary)
            return inner if token[0] == "+" else (lambda doc: not inner(doc))
        return self.primary()

    def primary(self) -> Predicate:
        token = self.take()
        if token == "(":
            inner = self.nested(self.expression)
            if self.take() != ")":
                raise SearchQueryError(f"unbalanced parentheses in {self.text!r}")
            return inner
        if token == "*:*":
            return lambda doc: True
        field, colon, value = token.partition(":")
        if colon and field and not field.startswith('"'):
            return self.field_value(field, value)
        return term_matcher("text", token)

    def field_value(self, field: str, value: str) -> Predicate:
        if value == "":  # field:(a OR b), field:"a phrase" or field:[a TO b] as separate tokens
            value = self.take()
            if value == "(":
                inner = self.values(field)
                if self.take() != ")":
                    raise SearchQueryError(f"unbalanced parentheses in {self.text!r}")
                return inner
        return term_matcher(field, value)

    def values(self, field: str) -> Predicate:
        """The inside of field:( … ), where bare values share the field."""
        alternatives: list[list[Predicate]] = [[]]
        while self.peek() not in (None, ")"):
            token = self.take()
            if token in ("OR", "||"):
                alternatives.append([])
            elif token not in ("AND", "&&"):
                alternatives[-1].append(term_matcher(field, token))
        return lambda doc: any(all(p(doc) for p in group) for group in alternatives if group)


def term_matcher(field: str, value: str) -> Predicate:
    """A predicate for one field:value (quoted, wildcard or range)."""
    if value.startswith(("[", "{")):
        return range_matcher(field, value)
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        value = value[1:-1].replace('\\"', '"')
    needle = fold(value)
    if field in TEXT_FIELDS:
        words = WORD.findall(needle)
        return lambda doc: all(
            any(has_prefix(words_in(t), n) for t in doc.get(field, [])) for n in words
        )
    if "*" in needle or "?" in needle:
        if len(needle) > MAX_PATTERN:
            raise SearchQueryError(f"wildcard value longer than {MAX_PATTERN} characters")
        # Compiled here, not by fnmatch, whose cache keeps 32 768 patterns for good.
        pattern = re.compile(translate(needle))
        return lambda doc: any(pattern.match(folded(v)) for v in doc.get(field, []))
    return lambda doc: any(folded(v) == needle for v in doc.get(field, []))


# Every term of a query is matched against every package: fold and split each indexed text
# once, not once per term (a query of a few hundred words would otherwise take seconds).
@lru_cache(maxsize=65_536)
def folded(text: str) -> str:
    """`fold`, remembered."""
    return fold(text)


@lru_cache(maxsize=16_384)
def words_in(text: str) -> tuple[str, ...]:
    """The distinct folded words of a text, sorted (for prefix search)."""
    return tuple(sorted(set(WORD.findall(fold(text)))))


def has_prefix(words: tuple[str, ...], prefix: str) -> bool:
    """Whether a sorted tuple of words holds one starting with `prefix`."""
    index = bisect_left(words, prefix)
    return index < len(words) and words[index].startswith(prefix)


def range_matcher(field: str, value: str) -> Predicate:
    """[low TO high] (inclusive) or {low TO high} (exclusive); `*` leaves a side open."""
    match = re.fullmatch(r"([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])", value)
    if not match:
        raise SearchQueryError(f"bad range {value!r} for {field}")
    opening, low, high, closing = match.groups()

    def inside(candidate: str) -> bool:
        item = comparable(candidate)
        if low != "*" and (item < comparable(low) if opening == "[" else item <= comparable(low)):
            return False
        return high == "*" or (
            item <= comparable(high) if closing == "]" else item < comparable(high)
        )

    def matches(doc: Doc) -> bool:
        try:
            return any(v is not None and inside(v) for v in doc.get(field, []))
        except TypeError:  # a time bound against a text value, say: no match, as in Solr
            return False

    return matches


def comparable(value: str) -> Any:
    """A range bound or value: a UTC time if it reads as one, a number, else folded text."""
    text = value.strip()
    if text.upper().startswith("NOW"):
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return fold(text)


def fold(text: str) -> str:
    """Lower-case and strip accents, so `energie` finds `Énergie`."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
