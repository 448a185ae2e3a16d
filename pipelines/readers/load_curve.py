"""The `load-curve-csv` reader: a household's minute load curve, as the UCI Sceaux data gives it.

The UCI "Individual household electric power consumption" file (Hébrail & Bérard, EDF R&D):
`;`-separated, `Date` (d/m/yyyy, unpadded in the published file: 1/1/2007) and `Time` in French
local time, `?` for a minute the meter did not record, then per minute:

- `Global_active_power` (kW): the mean active power of the whole delivery point → circuit
  `main`, quantity `power`, unit kW;
- `Sub_metering_1..3` (Wh of active energy): kitchen, laundry room, electric water heater and
  air conditioner → circuits `kitchen`, `laundry`, `water-heater-ac`, quantity `energy`.

`Global_reactive_power` (kVAR), `Voltage` (V) and `Global_intensity` (A) are not read: schema
energy-consumption holds active energy or power only (its `quantity` and `unit` enums).

PERSONAL DATA: every row carries the subject key of the delivery point, which the file does not
give: the source declares it in `options.meter`, the operator's own identifier of the delivery
point (its meter or PDL number). The reader passes it on as is; the publish gate replaces it by
the hub's keyed pseudonym before anything is stored or reported (`hub.pseudonyms`), so the
number itself never reaches the catalogue.

A `?` (or an empty cell) is a missing measurement, not a zero: its row stays, with an empty
value and a problem saying so, so the gate quarantines that minute and reports the gap rather
than dropping it unseen (schema energy-consumption requires a value on every row).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import polars as pl

from hub.batches import Chunk, RowProblem
from hub.validation.tables import open_csv
from pipelines.normalise import Target, load_target
from pipelines.readers import csv
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.periods import Clock, derive_step, parse_step
from pipelines.sources import Source

log = logging.getLogger(__name__)

OPTIONS = (*csv.OPTIONS, "meter", "step")
DEFAULTS = {"delimiter": ";", "encoding": "utf-8", "timezone": "Europe/Paris"}
# UCI column → (circuit, quantity, unit)
CHANNELS = {
    "Global_active_power": ("main", "power", "kW"),
    "Sub_metering_1": ("kitchen", "energy", "Wh"),
    "Sub_metering_2": ("laundry", "energy", "Wh"),
    "Sub_metering_3": ("water-heater-ac", "energy", "Wh"),
}
MISSING = "?"
TIME_FORMAT = "%d/%m/%Y %H:%M:%S"
RULES = {
    "period_start": csv.Rule(column="_start"),
    "period_end": csv.Rule(column="_end"),
    "circuit": csv.Rule(column="_circuit"),
    "quantity": csv.Rule(column="_quantity"),
    "value": csv.Rule(column="_value"),
    "unit": csv.Rule(column="_unit"),
    "quality": csv.Rule(value="measured"),  # meter readings, as the meter logged them
}


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a household minute load curve: one row per minute and metered channel."""
    options = {**DEFAULTS, **source.options}
    target = load_target(source.schema)
    rules = {
        **RULES,
        "subject_key": csv.Rule(value=_meter(options)),
        **csv.parse_columns(options.get("columns") or {}, target),
    }
    step = parse_step(options["step"]) if options.get("step") else None
    table = open_csv(
        fetched.path,
        encoding=options.get("encoding"),
        delimiter=options.get("delimiter"),
        quotechar=options.get("quotechar", '"'),
    )
    curve = Curve(Clock(options.get("timezone")), step)
    return _chunks(table.chunks, curve, rules, target)


READER = Reader("load-curve-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def _meter(options: dict[str, Any]) -> str:
    """The delivery point's identifier, which the source file must declare (never quoted)."""
    meter = options.get("meter")
    if not isinstance(meter, str) or not meter.strip():
        raise ReaderError(
            "format load-curve-csv needs options.meter: the operator's identifier of the "
            "delivery point this file is the curve of (its meter or PDL number, in quotes; the "
            "file names none), which the hub pseudonymises at publication"
        )
    return meter.strip()


def _chunks(
    raw: Iterator[pl.DataFrame], curve: Curve, rules: dict[str, csv.Rule], target: Target
) -> Iterator[Chunk]:
    """Each raw chunk as long rows mapped onto the schema, missing readings as problems."""
    for chunk in raw:
        long, missing = without_missing(curve.lengthen(chunk))
        mapped = csv.map_chunk(long, rules, target)
        yield Chunk(
            mapped.frame,
            mapped.problems + missing,
            unprovided=mapped.unprovided,
            unmapped=mapped.unmapped,
        )


@dataclass
class Curve:
    """Minute rows of one file turned into (minute, channel) rows with their period."""

    clock: Clock
    step: timedelta | None = None
    derived: bool = False

    def lengthen(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """One row per metered channel of each source row, `_row` repeated, in file order."""
        channels = [c for c in CHANNELS if c in chunk.columns]
        if not channels or "Date" not in chunk.columns or "Time" not in chunk.columns:
            raise ReaderError(
                "not a household load curve: it needs Date, Time and Global_active_power or "
                f"Sub_metering_1..3 columns (its columns: {', '.join(chunk.columns)})"
            )
        text = chunk["Date"].str.strip_chars() + " " + chunk["Time"].str.strip_chars()
        naive = text.str.strptime(pl.Datetime("us"), TIME_FORMAT, strict=False)
        start, end = self.clock.stamp(naive, self._step_of(naive))
        timed = chunk.with_columns(_start=start.fill_null(text), _end=end)
        long = pl.concat(
            timed.with_columns(
                _channel=pl.lit(column),
                _circuit=pl.lit(CHANNELS[column][0]),
                _quantity=pl.lit(CHANNELS[column][1]),
                _unit=pl.lit(CHANNELS[column][2]),
                _value=pl.col(column).cast(pl.Utf8).str.strip_chars(),
            )
            for column in channels
        )
        return long.sort("_row", maintain_order=True)

    def _step_of(self, naive: pl.Series) -> timedelta:
        """The step given in options, else the one derived from the file's first chunk."""
        if not self.derived:
            self.derived = True
            self.step = self.step or derive_step(naive)
        if self.step is None:
            raise ReaderError(
                "cannot tell the curve's step from a file with a single time: set options.step "
                "(e.g. PT1M)"
            )
        return self.step


def without_missing(long: pl.DataFrame) -> tuple[pl.DataFrame, list[RowProblem]]:
    """`?` and empty readings emptied, with a problem each: no measurement there.

    The UCI file writes an unrecorded minute `?;?;?;?;?;?;` with its last cell, Sub_metering_3,
    empty rather than `?`: both are the same gap.
    """
    gap = (pl.col("_value") == MISSING) | (pl.col("_value").fill_null("") == "")
    problems = [
        RowProblem(
            row,
            "value",
            f"no {channel} reading for this period: the file gives "
            + ("'?'" if value == MISSING else "an empty cell"),
        )
        for row, channel, value in long.filter(gap).select("_row", "_channel", "_value").iter_rows()
    ]
    # Emptied, so that normalisation does not also call '?' "not a number".
    return long.with_columns(_value=pl.when(gap).then(None).otherwise(pl.col("_value"))), problems
