"""The outside check's data: a schema the hub does not ship, and a large file for it, ~0.05 % bad.

The schema has what an outside tester reaches for: a `pattern` on a low-cardinality field
(site codes) and on a field unique to each row (references), enums, numeric bounds,
`maxLength` and a three-field primary key. Few enough rows are bad (~500 per million) that
frictionless's command line, which stops at 1,000 errors by default, reads the whole file.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from pathlib import Path
from typing import Any

SENSORS = ["pm10", "pm25", "no2", "o3", "so2"]
STATUSES = ["ok", "suspect", "invalid"]
SCHEMA: dict[str, Any] = {
    "fields": [
        {
            "name": "site",
            "type": "string",
            "constraints": {"required": True, "pattern": "[A-Z]{2}[0-9]{4}"},
        },
        {"name": "day", "type": "date", "constraints": {"required": True}},
        {
            "name": "hour",
            "type": "integer",
            "constraints": {"required": True, "minimum": 0, "maximum": 23},
        },
        {"name": "sensor", "type": "string", "constraints": {"enum": SENSORS}},
        {"name": "status", "type": "string", "constraints": {"enum": STATUSES}},
        {"name": "value", "type": "number", "constraints": {"minimum": 0, "maximum": 500}},
        {"name": "temperature", "type": "number", "constraints": {"minimum": -40, "maximum": 60}},
        {"name": "reference", "type": "string", "constraints": {"pattern": "R-[0-9]{7}"}},
        {"name": "note", "type": "string", "constraints": {"maxLength": 20}},
    ],
    "primaryKey": ["site", "day", "hour"],
}
SITES = 500
NOTES = ["", "", "", "calibrated", "maintenance due", "low battery", "windy"]
KINDS = ["pattern", "enum", "maximum", "maxLength", "hour", "reference", "primary-key"]


def generate(path: Path, rows: int, seed: int = 20240915, bad_share: float = 0.0005) -> dict:
    """Write `rows` hourly readings of 500 sites with planted errors; return their counts."""
    rng = random.Random(seed)
    sites = [f"{chr(65 + n % 26)}{chr(65 + n // 26 % 26)}{1000 + n}" for n in range(SITES)]
    start = date(2024, 1, 1)
    planted = dict.fromkeys(KINDS, 0)
    recent: list[list[str]] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(field["name"] for field in SCHEMA["fields"]) + "\n")
        for i in range(rows):
            day = start + timedelta(days=i // (SITES * 24))
            cells = [
                sites[i % SITES],
                day.isoformat(),
                str(i // SITES % 24),
                rng.choice(SENSORS),
                rng.choice(STATUSES),
                f"{rng.uniform(0, 300):.2f}",
                f"{rng.uniform(-10, 35):.1f}",
                f"R-{i:07d}",
                rng.choice(NOTES),
            ]
            if rng.random() < bad_share:
                kind = KINDS[rng.randrange(len(KINDS))]
                kind = "enum" if kind == "primary-key" and not recent else kind
                cells = plant(kind, cells, recent, rng)
                planted[kind] += 1
            elif i % 991 == 0:
                recent = (recent + [cells])[-20:]
            out.write(",".join(cells) + "\n")
    return planted


def plant(kind: str, cells: list[str], recent: list[list[str]], rng: random.Random) -> list[str]:
    """The row's cells with one planted error of the given kind."""
    if kind == "primary-key":
        return list(rng.choice(recent))  # an earlier row again: same site, day and hour
    column, text = {
        "pattern": (0, cells[0].lower()),
        "enum": (3, "pm2.5"),
        "maximum": (5, f"{rng.uniform(501, 900):.2f}"),
        "maxLength": (8, "this note is far too long to fit"),
        "hour": (2, "24"),
        "reference": (7, "R-" + cells[7][3:]),
    }[kind]
    cells[column] = text
    return cells
