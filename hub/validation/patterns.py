"""`pattern` constraints checked by polars' regex engine wherever it provably agrees with `re`.

frictionless checks a cell with `re.compile("^{pattern}$").match(cell)`: Python's regex
dialect, one call per cell. `plain_pattern` rewrites the parsed Python pattern into the
regex crate's syntax for the cases where both engines give the same answer: cells of ASCII
characters without a line feed (so `$` cannot stop before a final newline and `.` never
meets one), and patterns made only of literals, character classes, `.`, repeats, groups,
alternatives and `^`/`$` anchors, without flags. Classes (`\\d`, `\\w`, `\\s` ...) are
spelled as the ASCII characters Python matches, computed from `re` itself. Any other cell,
or any other pattern (lookarounds, back-references, flags ...), is checked by Python's `re`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import polars as pl

__all__ = ["plain_cells", "plain_pattern"]

ASCII = range(128)
_CATEGORIES = {
    sre.CATEGORY_DIGIT: r"\d",
    sre.CATEGORY_NOT_DIGIT: r"\D",
    sre.CATEGORY_SPACE: r"\s",
    sre.CATEGORY_NOT_SPACE: r"\S",
    sre.CATEGORY_WORD: r"\w",
    sre.CATEGORY_NOT_WORD: r"\W",
}
# the ASCII characters each class matches, as Python's `re` decides (e.g. \s includes \x1c)
_CATEGORY_SETS = {
    category: frozenset(c for c in ASCII if re.match(spelling, chr(c)))
    for category, spelling in _CATEGORIES.items()
}
_ANCHORS = {
    sre.AT_BEGINNING: "^",
    sre.AT_BEGINNING_STRING: "^",
    sre.AT_END: "$",  # before a final "\n" too in Python: plain cells hold none
    sre.AT_END_STRING: "$",
}


class _Untranslatable(Exception):
    """The pattern uses a construct whose meaning the regex crate may not share."""


def plain_pattern(pattern: str) -> str | None:
    """A regex-crate pattern matching a plain cell exactly when frictionless's check passes.

    None when the pattern cannot be translated safely (the cells then go through `re`).
    """
    try:
        parsed = sre_parse.parse(f"^{pattern}$")
        if parsed.state.flags & ~sre.SRE_FLAG_UNICODE:
            return None
        translated = "^(?:" + _sequence(list(parsed)) + ")"  # `match` anchors at the start
        pl.Series([""], dtype=pl.String).str.contains(translated)  # the crate accepts it
    except (_Untranslatable, re.error, pl.exceptions.PolarsError, RecursionError):
        return None
    return translated


def plain_cells(raw: pl.Expr) -> pl.Expr:
    """Cells `plain_pattern`'s translation decides: ASCII only, no line feed."""
    return (raw.str.len_bytes() == raw.str.len_chars()) & ~raw.str.contains("\n", literal=True)


def _sequence(items: list[tuple[Any, Any]]) -> str:
    return "".join(_node(op, av) for op, av in items)


def _node(op: Any, av: Any) -> str:
    handler = _HANDLERS.get(op)
    if handler is None:
        raise _Untranslatable(str(op))
    return handler(av)


def _literal(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _class(members: set[int] | frozenset[int]) -> str:
    """A bracketed class of ASCII code points, as ranges."""
    if not members:
        raise _Untranslatable("empty class")
    ranges, ordered = [], sorted(members)
    start = previous = ordered[0]
    for code in ordered[1:] + [-1]:
        if code != previous + 1:
            ranges.append(
                _literal(start) if start == previous else f"{_literal(start)}-{_literal(previous)}"
            )
            start = code
        previous = code
    return "[" + "".join(ranges) + "]"


def _in(items: list[tuple[Any, Any]]) -> str:
    members: set[int] = set()
    negate = False
    for op, av in items:
        if op is sre.NEGATE:
            negate = True
        elif op is sre.LITERAL:
            members |= {av} & set(ASCII)
        elif op is sre.RANGE:
            members |= set(range(av[0], min(av[1], 127) + 1))
        elif op is sre.CATEGORY and av in _CATEGORY_SETS:
            members |= _CATEGORY_SETS[av]
        else:
            raise _Untranslatable(str(op))
    return _class(set(ASCII) - members if negate else members)


def _category(av: Any) -> str:
    if av not in _CATEGORY_SETS:
        raise _Untranslatable(str(av))
    return _class(_CATEGORY_SETS[av])


def _repeat(av: Any, lazy: bool) -> str:
    low, high, items = av
    bound = f"{{{low},}}" if high == sre.MAXREPEAT else f"{{{low},{high}}}"
    return f"(?:{_sequence(list(items))}){bound}{'?' if lazy else ''}"


def _subpattern(av: Any) -> str:
    _group, add_flags, del_flags, items = av
    if add_flags or del_flags:
        raise _Untranslatable("inline flags")
    return f"(?:{_sequence(list(items))})"


def _branch(av: Any) -> str:
    _, alternatives = av
    return "(?:" + "|".join(_sequence(list(items)) for items in alternatives) + ")"


def _anchor(av: Any) -> str:
    if av not in _ANCHORS:
        raise _Untranslatable(str(av))
    return _ANCHORS[av]


_HANDLERS: dict[Any, Callable[[Any], str]] = {
    sre.LITERAL: _literal,
    sre.NOT_LITERAL: lambda code: f"[^{_literal(code)}]",
    sre.ANY: lambda _: ".",  # any character but "\n", in both engines
    sre.IN: _in,
    sre.CATEGORY: _category,
    sre.MAX_REPEAT: lambda av: _repeat(av, lazy=False),
    sre.MIN_REPEAT: lambda av: _repeat(av, lazy=True),
    sre.SUBPATTERN: _subpattern,
    sre.BRANCH: _branch,
    sre.AT: _anchor,
}
