"""CKAN's Lucene-style query sub-grammar (q and fq), compiled to the catalogue's search
conditions (`hub.search`), which run in SQL."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime

from hub import licences, wording
from hub.api.ckan import datemath
from hub.api.ckan.errors import SearchQueryError, echoed
from hub.api.ckan.packages import OPEN_LICENCES
from hub.redaction import clipped
from hub.search import AllOf, AnyOf, Between, Condition, Equals, Everything, Not, Words
from hub.searchindex import INDEX_FIELDS, NUMBER_FIELDS, TIME_FIELDS

# CKAN's text fields, and the part of the search index each one searches.
TEXT_FIELDS = {"text": None, "title": "title", "notes": "body"}
# CKAN's index fields whose value follows from what the hub is, each value (folded) → the
# datasets having it; any other value matches none. Every dataset the hub lists is a `dataset`
# package of the one site, active, and public in CKAN's sense (`capacity:public`,
# `private:false`): its metadata is listed to everyone, whatever its charter's access, which
# governs its rows, not its listing. `isopen` is what each package dict says: open access
# under an open licence.
_OPEN = AllOf(
    (Equals("access", "open"), AnyOf(tuple(Equals("license_id", i) for i in OPEN_LICENCES)))
)
STANDARD_FIELDS: dict[str, dict[str, Condition]] = {
    "type": {"dataset": Everything()},
    "dataset_type": {"dataset": Everything()},
    "entity_type": {"package": Everything()},
    "site_id": {"default": Everything()},
    "state": {"active": Everything()},
    "capacity": {"public": Everything()},
    "private": {"false": Everything()},
    "isopen": {"true": _OPEN, "false": Not(_OPEN)},
}
# A range ends at the next bracket of either kind ("[[[[…" tokenizes in linear time), and may
# mix them as Solr allows: `{a TO *]` (exclusive low, inclusive high) and `[a TO b}`.
_TOKEN = re.compile(r'\s+|\(|\)|"(?:[^"\\]|\\.)*"|[\[{][^\[\]{}]*[\]}]|[^\s()"\[\]{}]+|\S')
# Bounds on q and fq together, checked before any parsing: every term is one more subquery.
# Solr's own limit is 1024 clauses (maxBooleanClauses).
MAX_CHARS = 10_000
MAX_TERMS = 256
MAX_DEPTH = 32
MAX_PATTERN = 100  # characters of one wildcard value
OPERATORS = {"(", ")", "AND", "OR", "NOT", "&&", "||", "!", "+", "-"}
_BOOST = re.compile(r"\^\d+(?:\.\d+)?$")  # Solr's `^2`, `^0.5` at the end of a term
# The fields a query may name: CKAN's text fields, its standard ones, and the index's own
# (hub.searchindex). Solr refuses any other (`undefined field`): a misspelt `fq` must not
# answer "no datasets", which a harvester reads as "all of them were deleted".
KNOWN_FIELDS = frozenset({*TEXT_FIELDS, *STANDARD_FIELDS, *INDEX_FIELDS})


def parse_all(texts: list[str], now: datetime | None = None) -> list[Condition]:
    """Conditions for several queries (q and the filters), within the bounds on their size;
    `now` is date math's NOW (default: the clock)."""
    if sum(len(t) for t in texts) > MAX_CHARS:
        raise SearchQueryError(f"the query and filters are longer than {MAX_CHARS} characters")
    tokenized = [plain_tokens(tokens_of(t), t) for t in texts]
    if sum(1 for tokens in tokenized for t in tokens if t not in OPERATORS) > MAX_TERMS:
        raise SearchQueryError(f"the query and filters have more than {MAX_TERMS} terms")
    now = now or datetime.now(UTC)
    return [parse(text, tokens, now) for text, tokens in zip(texts, tokenized, strict=True)]


def tokens_of(text: str) -> list[str]:
    """The tokens of a query: words, field:value, phrases, ranges, parentheses."""
    return [t for t in _TOKEN.findall(text) if t.strip()]


def plain_tokens(tokens: list[str], text: str) -> list[str]:
    """The tokens without their boosts (`air^4`, `"a phrase"^2`, `(a OR b)^3`: Solr's boost
    weighs relevance and never changes which datasets match, so it is dropped, as ranking here
    is the index's own); fuzzy and proximity searches (`air~2`, `"a b"~3`), an unterminated
    phrase or range and a malformed boost are refused, as Solr refuses what it cannot read,
    rather than read as words that match nothing or something else."""
    kept: list[str] = []
    for token in tokens:
        if len(token) > 1 and (token[0] == '"' or token[0] in "[{"):  # a phrase, a range
            kept.append(token)
            continue
        if token == '"':
            raise SearchQueryError(f'unterminated phrase in {echoed(text)}: a phrase ends with "')
        if token in ("[", "{", "]", "}"):
            raise SearchQueryError(f"unterminated range in {echoed(text)}: write [a TO b]")
        if "~" in token:
            raise SearchQueryError(
                f"fuzzy and proximity searches ({echoed(token)}) are not supported: "
                "write the word itself, or a wildcard (air*)"
            )
        boost = _BOOST.search(token)
        if boost:
            token = token[: boost.start()]
            if not token and not (kept and (kept[-1] == ")" or kept[-1][0] in '"[{')):
                raise SearchQueryError(f"a boost boosts nothing in {echoed(text)}")
        if "^" in token:
            raise SearchQueryError(f"bad boost in {echoed(text)}: write word^2")
        if token:
            kept.append(token)
    return kept


def parse(text: str, tokens: list[str] | None = None, now: datetime | None = None) -> Condition:
    """A condition for a Lucene-style query: field:value, "phrases", ranges, AND/OR/NOT, +/-."""
    if tokens is None or now is None:
        return parse_all([text], now)[0]
    parser = _Parser(tokens, text, now)
    predicate = parser.expression()
    if parser.position != len(tokens):
        raise SearchQueryError(
            f"cannot parse {echoed(text)} near {echoed(tokens[parser.position])}"
        )
    return predicate


class _Parser:
    """Recursive descent over tokens; the default operator is AND, as in CKAN's Solr schema."""

    def __init__(self, tokens: list[str], text: str, now: datetime) -> None:
        self.tokens, self.text, self.position, self.depth = tokens, text, 0, 0
        self.now = now

    def nested(self, inner: Callable[[], Condition]) -> Condition:
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
            raise SearchQueryError(f"unexpected end of {echoed(self.text)}")
        self.position += 1
        return token

    def expression(self) -> Condition:
        alternatives = [self.conjunction()]
        while self.peek() in ("OR", "||"):
            self.take()
            alternatives.append(self.conjunction())
        return alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives))

    def conjunction(self) -> Condition:
        parts = [self.unary()]
        while self.peek() not in (None, ")", "OR", "||"):
            if self.peek() in ("AND", "&&"):
                self.take()
            parts.append(self.unary())
        parts = joined_words(parts)
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    def unary(self) -> Condition:
        token = self.peek()
        if token in ("NOT", "!", "-", "+"):
            self.take()
            inner = self.nested(self.unary)
            return inner if token == "+" else Not(inner)
        if token and len(token) > 1 and token[0] in "+-" and token not in ("+", "-"):
            self.tokens[self.position] = token[1:]
            inner = self.nested(self.unary)
            return inner if token[0] == "+" else Not(inner)
        return self.primary()

    def primary(self) -> Condition:
        token = self.take()
        if token == "(":
            inner = self.nested(self.expression)
            if self.take() != ")":
                raise SearchQueryError(f"unbalanced parentheses in {echoed(self.text)}")
            return inner
        if token == "*:*":
            return Everything()
        field, colon, value = token.partition(":")
        if colon and field and not field.startswith('"'):
            return self.field_value(field, value)
        return term_matcher("text", token, self.now)

    def field_value(self, field: str, value: str) -> Condition:
        if value == "":  # field:(a OR b), field:"a phrase" or field:[a TO b] as separate tokens
            value = self.take()
            if value == "(":
                inner = self.values(field)
                if self.take() != ")":
                    raise SearchQueryError(f"unbalanced parentheses in {echoed(self.text)}")
                return inner
        return term_matcher(field, value, self.now)

    def values(self, field: str) -> Condition:
        """The inside of field:( … ), where bare values share the field."""
        alternatives: list[list[Condition]] = [[]]
        while self.peek() not in (None, ")"):
            token = self.take()
            if token in ("OR", "||"):
                alternatives.append([])
            elif token not in ("AND", "&&"):
                alternatives[-1].append(term_matcher(field, token, self.now))
        return AnyOf(tuple(AllOf(tuple(group)) for group in alternatives if group))


def joined_words(parts: list[Condition]) -> list[Condition]:
    """Free words side by side are one text, so that a label of several words (`nitrogen
    dioxide`) is recognised as a synonym of its code."""
    free = [p for p in parts if isinstance(p, Words) and p.part is None]
    if len(free) < 2:
        return parts
    rest = [p for p in parts if not (isinstance(p, Words) and p.part is None)]
    return [Words(" ".join(p.text for p in free)), *rest]


def term_matcher(field: str, value: str, now: datetime) -> Condition:
    """The condition of one field:value (quoted, wildcard or range)."""
    field = field.removeprefix("extras_")  # the index keeps extras under their own keys
    if field not in KNOWN_FIELDS:
        raise SearchQueryError(f"undefined field {clipped(field)}")
    if value.startswith(("[", "{")):
        return range_matcher(field, value, now)
    value = unquoted(value)
    if field in TEXT_FIELDS:
        return Words(value, TEXT_FIELDS[field])
    if "*" in value or "?" in value:
        if len(value) > MAX_PATTERN:
            raise SearchQueryError(f"wildcard value longer than {MAX_PATTERN} characters")
        if field in STANDARD_FIELDS:
            return standard_matcher(field, value, pattern=True)
        return Equals(field, value, pattern=True)
    if field in STANDARD_FIELDS:
        return standard_matcher(field, value)
    if field == "license_id":  # CKAN's id (cc-by-sa) stands for the charter ids it names
        return AnyOf(tuple(Equals(field, i) for i in licences.charter_ids_of(value)))
    return Equals(field, value)


def unquoted(value: str) -> str:
    """A value without the double quotes of a phrase."""
    if value.startswith('"') and value.endswith('"') and len(value) >= 2:
        return value[1:-1].replace('\\"', '"')
    return value


def standard_matcher(field: str, value: str, pattern: bool = False) -> Condition:
    """The datasets having a value of one of CKAN's standard fields (`*` and `?` as wildcards
    when `pattern`); an unknown value matches none."""
    folded = wording.fold(value)
    if pattern:
        wanted = re.compile(
            ".*".join(".".join(map(re.escape, p.split("?"))) for p in folded.split("*"))
        )
        found = [c for v, c in STANDARD_FIELDS[field].items() if wanted.fullmatch(v)]
    else:
        found = [c for v, c in STANDARD_FIELDS[field].items() if v == folded]
    if not found:
        return Not(Everything())
    return found[0] if len(found) == 1 else AnyOf(tuple(found))


def range_matcher(field: str, value: str, now: datetime) -> Condition:
    """[low TO high] (inclusive) or {low TO high} (exclusive), or a bracket of each kind; `*`
    leaves a side open."""
    match = re.fullmatch(r"([\[{])\s*(\S+)\s+TO\s+(\S+)\s*([\]}])", value)
    if not match:
        raise SearchQueryError(f"bad range {echoed(value)} for {clipped(field)}")
    opening, low, high, closing = match.groups()
    return Between(
        field,
        bound(field, low, now),
        bound(field, high, now),
        low_inclusive=opening == "[",
        high_inclusive=closing == "]",
    )


def bound(field: str, text: str, now: datetime) -> float | str | None:
    """One side of a range as the index compares it: None when open (`*`), a time as epoch
    seconds (`NOW-1DAY`, an ISO time, Solr's date math), a count as a number, else the text."""
    text = unquoted(text)
    if text == "*":
        return None
    if field in TIME_FIELDS:
        try:
            return datemath.moment(text, now).timestamp()
        except ValueError:
            raise SearchQueryError(f"Invalid Date String: {echoed(text)} for {field}") from None
    if field in NUMBER_FIELDS:
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise SearchQueryError(f"Invalid Number: {echoed(text)} for {field}")
        return number
    return text
