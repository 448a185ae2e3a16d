"""What a new version of a schema may change for a dataset stored under an older one.

The stored rows were checked against the older version; the dataset may move to the new one
only if they still satisfy it. So a MAJOR version (which schemas/README allows to narrow a
constraint), a version older than the stored one, and a narrowed constraint under any other
number (a MAJOR change mislabelled) are refused. A changed `pattern`, which cannot be told wider
or narrower, is judged on the stored values themselves.
"""

from __future__ import annotations

import re
from typing import Any

import frictionless
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hub import records

_SEMVER = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")
LOWER_BOUNDS = ("minimum", "exclusiveMinimum", "minLength")  # narrowed when raised
UPPER_BOUNDS = ("maximum", "exclusiveMaximum", "maxLength")  # narrowed when lowered
FLAGS = ("required", "unique")  # narrowed when turned on
SHOWN_VALUES = 3  # offending stored values quoted in a refusal


def version_of(text: str) -> tuple[int, int, int] | None:
    """A `MAJOR.MINOR.PATCH` version as numbers; None when it is not one."""
    found = _SEMVER.fullmatch(text.strip()) if isinstance(text, str) else None
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


def refusal(
    connection: Connection, table_name: str, stored: dict[str, Any], new: dict[str, Any]
) -> str:
    """Why rows stored under `stored` cannot be claimed to follow `new` (empty when they can)."""
    was, now = str(stored.get("version", "")), str(new.get("version", ""))
    old_number, new_number = version_of(was), version_of(now)
    if old_number and new_number:
        if new_number[0] > old_number[0]:
            return f"{now} is a MAJOR version after {was}, which may break the stored rows"
        if new_number < old_number:
            return f"{now} is older than {was}, the version the rows are stored under"
    narrowed = [
        f"{name!r} ({'; '.join(whys)})"
        for name, old, fresh in _common_fields(stored, new)
        if (whys := _narrowings(old, fresh))
    ]
    if narrowed:
        return (
            f"{now} narrows field {', field '.join(narrowed)}: a narrowed constraint is a "
            f"MAJOR change (schemas/README), mislabelled as {now}, and the rows stored under "
            f"{was} were never checked against it"
        )
    layout = records.layout_for(table_name, stored, sa.MetaData())
    for name, old, fresh in _common_fields(stored, new):
        pattern = (fresh.get("constraints") or {}).get("pattern")
        if pattern and pattern != (old.get("constraints") or {}).get("pattern"):
            breaking = _values_not_matching(connection, layout, name, pattern)
            if breaking:
                shown = ", ".join(repr(v) for v in breaking[:SHOWN_VALUES])
                return (
                    f"{now} changes the pattern of field {name!r} to {pattern!r}, which stored "
                    f"values do not match ({shown}): a narrowed constraint is a MAJOR change"
                )
    return ""


def _common_fields(
    stored: dict[str, Any], new: dict[str, Any]
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(name, stored descriptor, new descriptor) of each field both versions have."""
    fresh = {f["name"]: f for f in new.get("fields", [])}
    return [
        (f["name"], f, fresh[f["name"]]) for f in stored.get("fields", []) if f["name"] in fresh
    ]


def _narrowings(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """How a field's new constraints refuse values its old ones accepted, in words."""
    before, after = old.get("constraints") or {}, new.get("constraints") or {}
    found = [f"is now {flag}" for flag in FLAGS if after.get(flag) and not before.get(flag)]
    for key in (*LOWER_BOUNDS, *UPPER_BOUNDS):
        if key not in after:
            continue
        if key not in before or _tighter(new, key, before[key], after[key]):
            was = repr(before[key]) if key in before else "none"
            found.append(f"{key} {after[key]!r} (was {was})")
    if "enum" in after:
        gone = [v for v in before.get("enum", []) if v not in after["enum"]]
        if "enum" not in before:
            found.append(f"enum {after['enum']!r} (was any value)")
        elif gone:
            found.append(f"enum drops {', '.join(repr(v) for v in gone)}")
    if new.get("type", "string") == "string" and new.get("format", "default") not in (
        "default",
        old.get("format", "default"),
    ):
        found.append(f"format {new['format']!r} (was {old.get('format', 'default')!r})")
    return found


def _tighter(field: dict[str, Any], key: str, was: Any, now: Any) -> bool:
    """Whether a bound moved inward; bounds that cannot be compared count as moved."""
    if key.endswith("Length"):
        was_value, now_value = was, now
    else:
        reader = frictionless.Field.from_descriptor(
            {"name": field["name"], "type": field.get("type", "string")}
        )
        was_value, now_value = reader.read_cell(was)[0], reader.read_cell(now)[0]
    try:
        return bool(now_value > was_value if key in LOWER_BOUNDS else now_value < was_value)
    except TypeError:
        return True


def _values_not_matching(
    connection: Connection, layout: records.Layout, field: str, pattern: str
) -> list[str]:
    """Stored values of a field that a pattern does not match whole (as frictionless reads it)."""
    column = layout.table.c[layout.columns[field]]
    compiled = re.compile(pattern)
    found: list[str] = []
    # Distinct values only, read once, when a schema's pattern changes: a rare event.
    values = connection.execute(sa.select(column).where(column.is_not(None)).distinct())
    for (value,) in values:
        if compiled.fullmatch(str(value)) is None:
            found.append(str(value))
            if len(found) == SHOWN_VALUES:
                break
    values.close()
    return found
