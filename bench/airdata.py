"""The benchmarks' data: a large air-quality CSV in the air-quality-observation shape, ~1 % bad."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
POLLUTANTS = ["pm25", "pm10", "no2", "o3", "so2", "co"]
UNITS = {"co": "mg/m³"}


def load_schema() -> dict[str, Any]:
    """The repository's air-quality-observation schema descriptor."""
    import sys

    sys.path.insert(0, str(ROOT))
    from hub.schemas import load_schema as load

    return load("air-quality-observation").descriptor


def header() -> list[str]:
    """The schema's field names: the generated file's header."""
    return [field["name"] for field in load_schema()["fields"]]


def generate(path: Path, rows: int, seed: int = 20240601) -> dict[str, int]:
    """Write `rows` observations with ~1 % invalid rows; return the planted error counts."""
    rng = random.Random(seed)
    stations = [
        (
            f"FR{n:05d}",
            f"Station {n}" if n % 40 else f'"Station {n}, centre"',
            rng.uniform(-5, 9),
            rng.uniform(41, 51),
        )
        for n in range(400)
    ]
    start = datetime(2023, 1, 1, tzinfo=UTC)
    planted = {"type": 0, "enum": 0, "minimum": 0, "required": 0, "primary-key": 0}
    kinds = list(planted)
    recent: list[str] = []
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(",".join(header()) + "\n")
        for i in range(rows):
            station, name, lon, lat = stations[i % len(stations)]
            hour = i // (len(stations) * len(POLLUTANTS))
            pollutant = POLLUTANTS[(i // len(stations)) % len(POLLUTANTS)]
            at = (start + timedelta(hours=hour)).strftime("%Y-%m-%dT%H:%M:%SZ")
            cells = [
                station,
                name,
                pollutant,
                f"{rng.uniform(0, 120):.1f}",
                UNITS.get(pollutant, "µg/m³"),
                "PT1H",
                at,
                f"{lon:.5f}",
                f"{lat:.5f}",
                rng.choice(("valid", "unverified")),
            ]
            line = ",".join(cells)
            if rng.random() < 0.01:
                kind = kinds[rng.randrange(len(kinds))]
                line = plant(kind, cells, recent, rng)
                planted[kind] += 1
            elif i % 997 == 0:
                recent = (recent + [line])[-50:]
            out.write(line + "\n")
    return planted


def plant(kind: str, cells: list[str], recent: list[str], rng: random.Random) -> str:
    """The row's line with one planted error of the given kind."""
    if kind == "type":
        column = rng.choice((3, 6, 8))
        cells[column] = {3: "n/a", 6: "2023-02-30T25:00:00Z", 8: "43,5"}[column]
    elif kind == "enum":
        cells[rng.choice((2, 4, 9))] = rng.choice(("pm2.5", "ug/m3", "bad"))
    elif kind == "minimum":
        cells[3] = f"-{rng.uniform(0.1, 5):.1f}"
    elif kind == "required":
        cells[rng.choice((0, 3, 6))] = ""
    elif recent:
        return rng.choice(recent)  # an earlier row again: same primary key
    return ",".join(cells)
