"""`pattern` constraints translated for polars agree with Python's `re` on every plain cell."""

from __future__ import annotations

import json
import random
import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

import polars as pl
import pytest

from hub.config import PROJECT_ROOT, get_settings
from hub.validation.patterns import plain_cells, plain_pattern

HAND_PICKED = [
    "[A-Z]{2}[0-9]{4}",
    "R-[0-9]{7}",
    "a|b",  # frictionless compiles "^a|b$": a prefix "a", or exactly "b"
    "\\d+(\\.\\d+)?",
    "[^,;]*",
    "\\w+@\\w+\\.\\w{2,}",
    "\\s*x\\s*",  # Python's \\s also matches \\x1c-\\x1f
    "\\S+",
    "[\\D]{2}",
    "[^\\w]",
    ".+?z",
    "(ab|a)(c|bcd)(d*)",
    "x{0,3}y?",
    "[a-c]|[x-z]+|",
    "\\Ax\\Z",
    "(?:0[1-9]|1[0-2])",
    "[A-Za-z_][A-Za-z0-9_]*",
    "\\x41+",
    "[é]|e",
]


def schema_patterns() -> list[str]:
    """Every `pattern` of the hub's schemas and of the sample schemas."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    paths = list((PROJECT_ROOT / "schemas").glob("*.schema.json"))
    samples = get_settings().samples_dir / "schemas"
    if samples.is_dir():
        paths += list(samples.rglob("*.json"))
    for path in paths:
        try:
            walk(json.loads(path.read_text(encoding="utf-8")))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
    return found


PRINTABLE = [chr(code) for code in range(32, 127)]


def sample(items: list[tuple[Any, Any]], rng: random.Random) -> str:
    """A string the parsed pattern likely matches (ASCII where it has a choice)."""
    out = []
    for op, av in items:
        if op is sre.LITERAL:
            out.append(chr(av))
        elif op is sre.NOT_LITERAL:
            out.append(rng.choice([c for c in PRINTABLE if ord(c) != av]))
        elif op is sre.ANY:
            out.append(rng.choice(PRINTABLE))
        elif op is sre.IN:
            out.append(rng.choice([c for c in PRINTABLE if re.match(_class(av), c)] or ["?"]))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT):
            low, high, inner = av
            count = rng.randint(low, min(high, low + 3))
            out += [sample(list(inner), rng) for _ in range(count)]
        elif op is sre.SUBPATTERN:
            out.append(sample(list(av[3]), rng))
        elif op is sre.BRANCH:
            out.append(sample(list(rng.choice(av[1])), rng))
    return "".join(out)


def _class(items: list[tuple[Any, Any]]) -> str:
    spelled = {
        sre.CATEGORY_DIGIT: "\\d",
        sre.CATEGORY_NOT_DIGIT: "\\D",
        sre.CATEGORY_SPACE: "\\s",
        sre.CATEGORY_NOT_SPACE: "\\S",
        sre.CATEGORY_WORD: "\\w",
        sre.CATEGORY_NOT_WORD: "\\W",
    }
    parts = []
    for op, av in items:
        if op is sre.NEGATE:
            parts.insert(0, "^")
        elif op is sre.LITERAL:
            parts.append(re.escape(chr(av)))
        elif op is sre.RANGE:
            parts.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif op is sre.CATEGORY:
            parts.append(spelled.get(av, ""))
    return "[" + "".join(parts) + "]"


def cells_for(pattern: str, rng: random.Random) -> list[str]:
    """Plain cells the pattern likely matches, near misses, and random ASCII ones."""
    parsed = list(sre_parse.parse(pattern))
    cells = {sample(parsed, rng) for _ in range(300)}
    near = [c for c in pattern if c.isascii() and c.isprintable()] + list("AZaz09-_ .,xyz")
    cells |= {"".join(rng.choice(near) for _ in range(rng.randint(0, 12))) for _ in range(600)}
    anything = [chr(code) for code in range(128) if code != 10]
    cells |= {"".join(rng.choice(anything) for _ in range(rng.randint(0, 8))) for _ in range(300)}
    return sorted(cells)


@pytest.mark.parametrize("pattern", HAND_PICKED + schema_patterns())
def test_translation_agrees_with_python_re_on_plain_cells(pattern: str) -> None:
    python = re.compile(f"^{pattern}$")  # as frictionless compiles it
    translated = plain_pattern(pattern)
    if translated is None:  # lookarounds and the like: Python decides every cell
        assert re.search(r"\(\?[=!<]|\\[1-9]|\(\?[aiLmsux]", pattern), pattern
        return
    cells = [cell for cell in cells_for(pattern, random.Random(pattern)) if cell.isascii()]
    cells = [cell for cell in cells if "\n" not in cell]
    series = pl.Series(cells, dtype=pl.String)
    assert series.to_frame("c").select(plain_cells(pl.col("c"))).to_series().all()
    ours = series.str.contains(translated).to_list()
    theirs = [python.match(cell) is not None for cell in cells]
    assert ours == theirs
    assert any(theirs) and not all(theirs)


@pytest.mark.parametrize(
    "pattern",
    [
        "P(?=\\d|T\\d)(\\d+D)?",  # lookahead
        "(a)\\1",  # back-reference
        "(?i)abc",  # a flag
        "(?a:\\w+)",  # a local flag
        "\\bword\\b",  # a word boundary
        "(?>a+)b",  # an atomic group
    ],
)
def test_constructs_the_crate_may_read_otherwise_are_not_translated(pattern: str) -> None:
    assert plain_pattern(pattern) is None


def test_plain_cells_are_ascii_without_line_feeds() -> None:
    cells = pl.Series(["FR1234", "ÉT1234", "R-1\n", "a\r", "", None], dtype=pl.String)
    plain = cells.to_frame("c").select(plain_cells(pl.col("c"))).to_series().to_list()
    assert plain == [True, False, False, True, True, None]


def test_python_and_the_crate_differ_where_cells_are_not_plain() -> None:
    # why such cells go to Python: "$" matches before a final line feed there, \\d any digit
    assert re.compile("^[0-9]+$").match("12\n") and re.compile("^\\d$").match("٣")
    assert not pl.Series(["12\n"]).str.contains(plain_pattern("[0-9]+") or "").item()
