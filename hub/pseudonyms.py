"""Keyed pseudonyms of data subjects: what the hub stores in place of a meter or card number.

A personal dataset's rows reach the hub with the operator's own subject key (a meter number,
say). The publish gate replaces it by `pseudonym(producer, key)`, an HMAC-SHA256 under the hub's
secret key, keyed per producer: the same household gets unrelated pseudonyms at two operators, a
copy of the database cannot be reversed or joined across producers without the key, and the hub
can still find a subject's rows again once the operator's matching service names their key.
Changing the hub's secret key changes every pseudonym (kept links stop matching).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any

import polars as pl

from hub.batches import Chunk, RowProblem
from hub.keys import secret_key
from hub.selection import split_values

PREFIX = "ps-"
DIGEST_BYTES = 20  # 160 bits, base32 without padding: 32 characters
SHAPE = re.compile(r"^ps-[a-z2-7]{32}$")


def pseudonym(producer: str, subject_key: str) -> str:
    """The pseudonym the hub stores for `subject_key` of `producer`'s datasets."""
    key = subject_key.strip()
    if not producer or not key:
        raise ValueError("a pseudonym needs a producer and a non-empty subject key")
    message = b"subject\x00" + producer.encode() + b"\x00" + key.encode()
    digest = hmac.new(secret_key(), message, hashlib.sha256).digest()[:DIGEST_BYTES]
    return PREFIX + base64.b32encode(digest).decode().lower()


def is_pseudonym(text: str) -> bool:
    """Whether `text` has the shape of a pseudonym (it says nothing of whose it is)."""
    return bool(SHAPE.match(text))


def keyed_filters(
    filters: tuple[tuple[str, str], ...], producer: str, field: str
) -> tuple[tuple[str, str], ...]:
    """Records filters with each subject key in an equality filter on `field` (`field`,
    `field__eq`, `field__ne`; comma-separated values) replaced by its pseudonym, as the gate
    stored it; a value that already is a pseudonym stays. For the producer's operators only:
    they hold the keys, and answer their customers' requests by them."""
    names = {field, f"{field}__eq", f"{field}__ne"}
    return tuple(
        (name, keyed_values(producer, text) if name in names else text) for name, text in filters
    )


def keyed_values(producer: str, text: str) -> str:
    """A filter's comma-separated subject keys (`\\,` a comma inside one) as the gate stored
    them: each replaced by its pseudonym; one that already is a pseudonym, or is empty, stays.
    Reads by an operator and withdrawals both name subjects through it."""
    return ",".join(_keyed(producer, value) for value in split_values(text))


def _keyed(producer: str, value: str) -> str:
    return value if is_pseudonym(value.strip()) or not value.strip() else pseudonym(producer, value)


def empty_subject(field: str) -> str:
    """The quarantine reason of a personal row that names no subject."""
    return f"a personal row must belong to someone: its subject field {field!r} is empty"


def pseudonymise(chunk: Chunk, producer: str, field: str) -> Chunk:
    """A chunk whose `field` holds pseudonyms instead of the operator's keys, before anything
    is validated, stored or reported: a problem that quotes a row's raw key quotes its
    pseudonym instead, and a row without a key gets a problem (the gate quarantines it)."""
    frame = chunk.frame
    if field not in frame.columns:  # the header check refuses the batch
        return chunk
    raw = frame[field].cast(pl.String)
    keys = raw.str.strip_chars()
    known = {key: pseudonym(producer, key) for key in keys.unique().drop_nulls() if key}
    # A blank key stays an empty cell (a missing one stays missing): neither names anyone.
    hidden = keys.replace_strict(known, default="", return_dtype=pl.String).zip_with(
        raw.is_not_null(), pl.repeat(None, len(raw), dtype=pl.String, eager=True)
    )
    empty = frame["_row"].filter(hidden.fill_null("") == "").unique(maintain_order=True).to_list()
    problems = _scrubbed(
        chunk.problems, _keys_by_row(frame, raw, {p.row for p in chunk.problems}), known
    )
    problems += [RowProblem(row, field, empty_subject(field)) for row in empty]
    frame = frame.with_columns(hidden.alias(field))
    if "_error" in frame.columns:
        frame = _scrub_errors(frame, raw, known)
    return Chunk(frame, problems, chunk.left_out, chunk.unprovided)


def _keys_by_row(frame: pl.DataFrame, raw: pl.Series, rows: set[int]) -> dict[int, list[str]]:
    """The raw keys of some source rows (a row may be several: one per channel, say)."""
    if not rows:
        return {}
    wanted = frame["_row"].is_in(pl.Series(list(rows), dtype=frame["_row"].dtype).implode())
    found: dict[int, set[str]] = {}
    for row, key in zip(frame["_row"].filter(wanted), raw.filter(wanted), strict=True):
        if key:
            found.setdefault(row, set()).add(key)
    return {row: sorted(keys) for row, keys in found.items()}


def _scrubbed(
    problems: list[RowProblem], keys: dict[int, list[str]], known: dict[str, str]
) -> list[RowProblem]:
    """A reader's problems with their row's raw keys (should they quote them) as pseudonyms."""
    scrubbed = []
    for problem in problems:
        note = _replaced(problem.note, keys.get(problem.row, []), known)
        scrubbed.append(
            problem if note == problem.note else RowProblem(problem.row, problem.field, note)
        )
    return scrubbed


def _scrub_errors(frame: pl.DataFrame, raw: pl.Series, known: dict[str, str]) -> pl.DataFrame:
    """The table's structural errors (they list a row's raw cells) with raw keys replaced."""
    flagged = frame["_error"].is_not_null()
    if not flagged.any():
        return frame
    errors, rows = frame["_error"].to_list(), frame["_row"].to_list()
    keys = _keys_by_row(frame, raw, {rows[i] for i in flagged.arg_true().to_list()})
    for index in flagged.arg_true().to_list():
        found = keys.get(rows[index])
        if found:
            decoded = json.loads(errors[index])
            errors[index] = json.dumps(_in_json(decoded, found, known), ensure_ascii=False)
    return frame.with_columns(pl.Series("_error", errors, dtype=pl.String))


def _in_json(value: Any, keys: list[str], known: dict[str, str]) -> Any:
    """A decoded JSON value with every string's raw keys replaced."""
    if isinstance(value, str):
        return _replaced(value, keys, known)
    if isinstance(value, list):
        return [_in_json(item, keys, known) for item in value]
    if isinstance(value, dict):
        return {name: _in_json(item, keys, known) for name, item in value.items()}
    return value


def _replaced(text: str, keys: list[str], known: dict[str, str]) -> str:
    """`text` with each raw key (longest first, as written and stripped) as its pseudonym."""
    for key in sorted(keys, key=len, reverse=True):
        stripped = key.strip()
        if stripped in known:
            for form in {key, stripped} - {""}:
                text = text.replace(form, known[stripped])
    return text
