"""The `eco2mix-csv` reader: RTE's éCO2mix electricity balance, as RTE and ODRÉ publish it.

Two shapes of the same table are read, told apart by their bytes and header, never by options:

- ODRÉ's export (`eco2mix-national-tr.csv`): UTF-8, `;`-separated, columns such as
  `Consommation (MW)` and a `Date - Heure` column whose times carry their offset.
- RTE's own download (`eCO2mix_RTE_En-cours-TR.xls`, `…_En-cours-Consolide.xls`,
  `…_Annuel-Definitif_YYYY.xls`, really text): Latin-1, tab-separated with a tab ending every
  row but not the header (the empty cell it makes is no extra value), `Date` and `Heures` in
  French local time, no units in the column names, rows of forecasts with empty measures (the
  rest of the day in real-time files, every other quarter-hour in consolidated and definitive
  ones), and a disclaimer as the last line.

Columns are matched on their French names without accents, case or units, so both spellings map
onto schema energy-mix. Forecast rows are kept: the schema requires only perimeter, nature and
period start, so their empty measures stay empty.
A period ends one step after it starts; the step is the file's own (the most common gap between
its times: 15 min for real-time data, 30 min in older files), or `options.step` (PT15M).
Empty measures and the « ND », « - », « DC » markers (not available, nonexistent,
confidential) are empty cells: no figure is published for them. The columns RTE added in 2024
(onshore and offshore wind, whose sum `Eolien` stays, battery storage and release) have their
fields since energy-mix 1.1.0; any other column energy-mix has no field for is left out, and the
log names it.
RTE's downloads give every day 96 quarter-hours in local time: on the spring DST day they list
02:00-02:45, which French clocks skip (copies of the 03:00 figures), and on the autumn day the
repeated hour once. Those rows are quarantined as times that do not exist or are ambiguous in
Europe/Paris, never shifted onto a guessed instant.
"""

from __future__ import annotations

import codecs
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import polars as pl

from hub.batches import Chunk
from pipelines.readers import csv
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.periods import Clock, derive_step, parse_step, write_instants
from pipelines.sources import Source

log = logging.getLogger(__name__)

OPTIONS = (*csv.OPTIONS, "step")
DEFAULTS = {"timezone": "Europe/Paris"}
SNIFF_BYTES = 1 << 16
# No figure, so an empty cell rather than a number to check: « ND » non disponible,
# « - » inexistante (regional files), « DC » confidentielle.
NOT_AVAILABLE = ("ND", "-", "DC")
# Column names (see `label_key`) → fields of schema energy-mix.
FIELDS = {
    "perimetre": "perimeter", "nature": "nature",
    "consommation": "consumption_mw", "prevision j 1": "forecast_d1_mw",
    "prevision j": "forecast_d0_mw", "fioul": "oil_mw", "charbon": "coal_mw", "gaz": "gas_mw",
    "nucleaire": "nuclear_mw", "eolien": "wind_mw", "solaire": "solar_mw",
    "hydraulique": "hydro_mw", "pompage": "pumping_mw", "bioenergies": "bioenergy_mw",
    "ech physiques": "physical_exchange_mw", "taux de co2": "co2_intensity_g_kwh",
    "ech comm angleterre": "exchange_gb_mw", "ech comm espagne": "exchange_es_mw",
    "ech comm italie": "exchange_it_mw", "ech comm suisse": "exchange_ch_mw",
    "ech comm allemagne belgique": "exchange_de_be_mw",
    "fioul tac": "oil_turbine_mw", "fioul cogeneration": "oil_cogeneration_mw",
    "fioul cogen": "oil_cogeneration_mw",  # RTE's download abbreviates « Cogén. »
    "fioul autres": "oil_other_mw", "gaz tac": "gas_turbine_mw",
    "gaz cogeneration": "gas_cogeneration_mw", "gaz cogen": "gas_cogeneration_mw",
    "gaz ccg": "gas_ccgt_mw",
    "gaz autres": "gas_other_mw", "hydraulique fil de l eau eclusee": "hydro_run_of_river_mw",
    "hydraulique lacs": "hydro_lakes_mw", "hydraulique step turbinage": "hydro_pumped_storage_mw",
    "bioenergies dechets": "bioenergy_waste_mw", "bioenergies biomasse": "bioenergy_biomass_mw",
    "bioenergies biogaz": "bioenergy_biogas_mw",
    # in RTE's files since 2024 (energy-mix 1.1.0)
    "eolien terrestre": "wind_onshore_mw", "eolien offshore": "wind_offshore_mw",
    "stockage batterie": "battery_charge_mw", "destockage batterie": "battery_discharge_mw",
}  # fmt: skip
NATURES = {"temps reel": "real-time", "consolidees": "consolidated", "definitives": "definitive"}
LOCAL_FORMATS = ("%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M", "%Y-%m-%d %H:%M:%S")


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read an éCO2mix file (ODRÉ export or RTE download) into energy-mix rows."""
    options = {**DEFAULTS, **source.options}
    sniffed = sniff(fetched.path)
    step = parse_step(options["step"]) if options.get("step") else None
    balance = Balance(Clock(options.get("timezone")), step)
    return csv.read_mapped(
        source, fetched.path, {}, defaults={**DEFAULTS, **sniffed}, reshape=balance
    )


READER = Reader("eco2mix-csv", "records", read, options=OPTIONS, defaults=DEFAULTS)


def sniff(path: Path) -> dict[str, str]:
    """The file's encoding (UTF-8, else Windows-1252/Latin-1) and delimiter (tab or `;`)."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    try:  # incremental: a character cut at the end of the sample is not an error
        text = codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        encoding = "utf-8"
    except UnicodeDecodeError:
        encoding = "cp1252" if _decodes(head, "cp1252") else "latin-1"
        text = head.decode(encoding)
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    delimiter = "\t" if header.count("\t") > header.count(";") else ";"
    return {"encoding": encoding, "delimiter": delimiter}


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def label_key(label: str) -> str:
    """A column name without accents, case, units in brackets or punctuation."""
    text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"\([^)]*\)", " ", text)
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


@dataclass
class Balance:
    """Turns raw éCO2mix chunks into rows with energy-mix's fields (the reader's `reshape`)."""

    clock: Clock
    step: timedelta | None = None
    derived: bool = False

    def __call__(self, chunk: pl.DataFrame) -> pl.DataFrame:
        """The chunk with one column per energy-mix field it gives, notes dropped."""
        columns = {label_key(c): c for c in chunk.columns if not c.startswith("_")}
        times = _time_columns(columns)
        chunk = _without_notes(_without_trailing_cells(chunk), times)
        self._log_left_out(columns)
        mapped = {
            name: chunk[source].cast(pl.Utf8).alias(name)
            for key, name in FIELDS.items()
            if (source := columns.get(key)) is not None
        }
        if "perimeter" not in mapped or "nature" not in mapped:
            raise ReaderError("not an éCO2mix file: no « Périmètre » or no « Nature » column")
        measures = [_measure(s) for n, s in mapped.items() if n not in ("perimeter", "nature")]
        frame = chunk.with_columns(mapped["perimeter"], _nature(mapped["nature"]), *measures)
        return frame.with_columns(*self._periods(frame, times))

    def _periods(self, frame: pl.DataFrame, times: list[str]) -> list[pl.Series]:
        """period_start and period_end: offsets kept or local times resolved; end = start + step."""
        raw = frame[times[0]] if len(times) == 1 else frame[times[0]] + "T" + frame[times[1]]
        if len(times) == 1:  # « Date - Heure »: 2021-12-11T10:00:00+01:00
            instants = raw.str.strptime(
                pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%:z", strict=False
            )
            step = self._step_of(instants)
            end = None if step is None else write_instants(instants + step, self.clock.zone)
            start = raw
        else:  # « Date » and « Heures » in French local time
            naive = _local_times(frame[times[0]], frame[times[1]])
            step = self._step_of(naive)
            start, end = self.clock.stamp(naive, step, frame["perimeter"] + "|" + frame["nature"])
            start = start.fill_null(raw)
        none = pl.Series([None] * frame.height, dtype=pl.Utf8)
        return [start.alias("period_start"), (none if end is None else end).alias("period_end")]

    def _log_left_out(self, columns: dict[str, str]) -> None:
        """Say once which columns of the file no energy-mix field takes."""
        if self.derived:  # set after the first chunk
            return
        known = {*FIELDS, "date heure", "date", "heure", "heures"}
        left = [label for key, label in columns.items() if key not in known and label.strip()]
        if left:
            log.info("éCO2mix columns with no energy-mix field, left out: %s", ", ".join(left))

    def _step_of(self, times: pl.Series) -> timedelta | None:
        """The step given in options, else the one derived from the file's first chunk."""
        if not self.derived:
            self.derived = True
            self.step = self.step or derive_step(times)
            if self.step is None:
                log.info("éCO2mix file with a single time: its periods' end is left empty")
        return self.step


def _time_columns(columns: dict[str, str]) -> list[str]:
    """The column(s) giving each period's start: « Date - Heure », else « Date » + « Heure(s) »."""
    if "date heure" in columns:
        return [columns["date heure"]]
    clock = columns.get("heures") or columns.get("heure")
    if "date" in columns and clock:
        return [columns["date"], clock]
    raise ReaderError(
        "not an éCO2mix file: no « Date - Heure » column, nor « Date » and « Heures » "
        f"(its columns: {', '.join(columns.values())})"
    )


def _without_trailing_cells(chunk: pl.DataFrame) -> pl.DataFrame:
    """Rows freed of the extra-cell error of an empty cell past the header (RTE's final tab)."""
    if "_error" not in chunk.columns:
        return chunk
    errors = chunk["_error"]
    if errors.null_count() == len(errors):
        return chunk
    return chunk.with_columns(
        pl.Series("_error", [_real_errors(text) for text in errors.to_list()], dtype=pl.Utf8)
    )


def _real_errors(text: str | None) -> str | None:
    """A row's structural errors (frictionless JSON list) without empty extra cells."""
    if text is None:
        return None
    errors = json.loads(text)
    kept = [
        e for e in errors if not (e.get("type") == "extra-cell" and not str(e.get("cell")).strip())
    ]
    if len(kept) == len(errors):
        return text
    return json.dumps(kept, ensure_ascii=False) if kept else None


def _without_notes(chunk: pl.DataFrame, times: list[str]) -> pl.DataFrame:
    """Drop lines that are a note, not a row: no date, one cell of text (RTE's disclaimer)."""
    cells = [c for c in chunk.columns if not c.startswith("_")]
    filled = pl.sum_horizontal(pl.col(c).str.strip_chars().fill_null("").ne("") for c in cells)
    dated = pl.col(times[0]).str.strip_chars().fill_null("") != ""
    note = ~dated & (filled <= 1)
    notes = chunk.filter(note)
    for text in notes[cells[0]].to_list():
        log.info("éCO2mix note line skipped: %s", (text or "")[:80])
    return chunk.filter(~note)


def _measure(values: pl.Series) -> pl.Series:
    """A measure column, RTE's « ND », « - » and « DC » markers as empty cells."""
    return values.str.strip_chars().replace(list(NOT_AVAILABLE), [""])


def _nature(values: pl.Series) -> pl.Series:
    """« Données temps réel » → real-time, « … consolidées » → consolidated, and so on."""
    codes: dict[str, str] = {}
    for value in values.drop_nulls().unique().to_list():
        key = label_key(value)
        # An unknown nature stays as the file writes it: the schema check reports it.
        codes[value] = next((code for words, code in NATURES.items() if words in key), value)
    return values.replace(codes).alias("nature")


def _local_times(dates: pl.Series, clocks: pl.Series) -> pl.Series:
    """« Date » and « Heures » as naive local datetimes (null where they do not parse)."""
    text = dates.str.strip_chars() + " " + clocks.str.strip_chars()
    parsed = [text.str.strptime(pl.Datetime("us"), f, strict=False) for f in LOCAL_FORMATS]
    return pl.select(pl.coalesce(parsed)).to_series().alias("naive")
