"""Energy readers: éCO2mix, TSO quarter-hours and a household load curve, from the real files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from api.support import bearer, client_for
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue
from hub.config import PROJECT_ROOT
from hub.pseudonyms import pseudonym
from pipelines.flows import harvest_source
from pipelines.readers import Fetched, ReaderError, read_records
from pipelines.readers.eco2mix import sniff
from pipelines.sources import Source, load_source

SOURCES = PROJECT_ROOT / "pipelines" / "sources"
ECO2MIX = "energy/eco2mix-national-tr.csv"
AMPRION = "energy/amprion_demand_201301.csv"
SCEAUX = "energy/household_power_consumption_2007-02-01_02.txt"
METER = "30002512345678"  # the (fictitious) PDL sceaux-household-load-curve.yaml declares
QUARTER = timedelta(minutes=15)
# RTE's own download names the columns without units and abbreviates some (see eco2mix.py).
RTE_HEADER = [
    "Périmètre", "Nature", "Date", "Heures", "Consommation", "Prévision J-1", "Prévision J",
    "Fioul", "Charbon", "Gaz", "Nucléaire", "Eolien", "Solaire", "Hydraulique", "Pompage",
    "Bioénergies", "Ech. physiques", "Taux de Co2", "Ech. comm. Angleterre",
    "Ech. comm. Espagne", "Ech. comm. Italie", "Ech. comm. Suisse",
    "Ech. comm. Allemagne-Belgique", "Fioul - TAC", "Fioul - Cogén.", "Fioul - Autres",
    "Gaz - TAC", "Gaz - Cogén.", "Gaz - CCG", "Gaz - Autres",
    "Hydraulique - Fil de l?eau + éclusée", "Hydraulique - Lacs",
    "Hydraulique - STEP turbinage", "Bioénergies - Déchets", "Bioénergies - Biomasse",
    "Bioénergies - Biogaz",
]  # fmt: skip


def bundled(name: str, **options: Any) -> Source:
    """A bundled source file, its options extended by `options`."""
    source = load_source(SOURCES / f"{name}.yaml")
    source.options = {**source.options, **options}
    return source


def read(source: Source, path: Path) -> tuple[pl.DataFrame, list[Any]]:
    """Every row the harvest would publish (reader + normalisation), and the problems."""
    chunks = list(read_records(source, Fetched(path)))
    return pl.concat([c.frame for c in chunks]), [p for c in chunks for p in c.problems]


def instants(values: pl.Series) -> pl.Series:
    return values.str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%SZ")


def durations(frame: pl.DataFrame) -> set[timedelta]:
    return set((instants(frame["period_end"]) - instants(frame["period_start"])).to_list())


# --- eco2mix-csv ---------------------------------------------------------------------------


def test_eco2mix_odre_export_gives_every_quarter_hour_of_december_2021(samples: Path) -> None:
    frame, problems = read(bundled("rte-eco2mix-national"), samples / ECO2MIX)
    assert (frame.height, problems) == (2976, [])
    assert frame["_row"].to_list() == list(range(2, 2978))
    first = frame.row(0, named=True)  # 2021-12-11T10:00:00+01:00 in the file
    assert {k: first[k] for k in ("perimeter", "nature", "period_start", "period_end")} == {
        "perimeter": "France", "nature": "real-time",
        "period_start": "2021-12-11T09:00:00Z", "period_end": "2021-12-11T09:15:00Z",
    }  # fmt: skip
    assert [first[k] for k in ("consumption_mw", "nuclear_mw", "pumping_mw", "exchange_gb_mw")] == [
        "70139", "42938", "-42", "-1884"
    ]  # fmt: skip
    assert first["hydro_run_of_river_mw"] == "5340" and first["co2_intensity_g_kwh"] == "73"
    third = frame.row(2, named=True)  # 10:45 local: commercial exchanges only every 30 min
    assert (third["period_start"], third["exchange_de_be_mw"], third["gas_ccgt_mw"]) == (
        "2021-12-11T09:45:00Z", "", "4817"
    )  # fmt: skip
    assert frame.filter(pl.col("exchange_gb_mw") == "").height == 1488
    starts = instants(frame["period_start"])
    assert (starts.min(), starts.max(), starts.n_unique()) == (
        datetime.fromisoformat("2021-11-30T23:00:00+00:00"),
        datetime.fromisoformat("2021-12-31T22:45:00+00:00"),
        2976,
    )
    assert durations(frame) == {QUARTER}


def rte_download(samples: Path, day: str, forecasts_from: str) -> tuple[str, pl.DataFrame]:
    """RTE's download of one real day: Latin-1, tabs, Date + Heures, trailing tab, disclaimer.

    Rows from `forecasts_from` on carry only the forecasts, as in the day's real-time file.
    """
    lines = (samples / ECO2MIX).read_text(encoding="utf-8").splitlines()[1:]
    cells = sorted(
        (line.split(";") for line in lines if line.split(";")[2] == day), key=lambda c: c[3]
    )
    rows = []
    for cell in cells:
        row = cell[:4] + cell[5:]  # no « Date - Heure »: RTE gives the local date and time
        if row[3] >= forecasts_from:
            row = row[:4] + ["", row[5], row[6]] + [""] * (len(row) - 7)
        rows.append(row)
    rows[40][16] = "ND"  # « Ech. physiques » not available at 10:00
    disclaimer = "RTE ne pourra être tenu responsable de l'usage qui pourrait être fait des données"
    lines = ["\t".join(row) + "\t" for row in [RTE_HEADER, *rows]]  # a tab ends each line
    text = "\n".join([*lines, disclaimer, ""]) + "\n"
    return text, pl.DataFrame(
        [c[:8] for c in cells], schema=[f"c{i}" for i in range(8)], orient="row"
    )


def test_eco2mix_rte_download_in_latin1_with_forecast_rows(samples: Path, tmp_path: Path) -> None:
    text, cells = rte_download(samples, "2021-12-31", forecasts_from="20:00")
    path = tmp_path / "eCO2mix_RTE_En-cours-TR.xls"
    path.write_bytes(text.encode("cp1252"))
    assert sniff(path) == {"encoding": "cp1252", "delimiter": "\t"}
    frame, problems = read(bundled("rte-eco2mix-national"), path)
    assert (frame.height, problems) == (96, [])  # the disclaimer and blank line are no rows
    # Local times resolved to the very instants of the ODRÉ export's « Date - Heure ».
    expected = cells["c4"].str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%:z")
    assert instants(frame["period_start"]).to_list() == expected.to_list()
    assert durations(frame) == {QUARTER}
    measured, forecast = frame.head(80), frame.tail(16)
    assert measured["consumption_mw"].to_list() == cells["c5"].head(80).to_list()
    assert set(forecast["consumption_mw"]) == {""} and set(forecast["nuclear_mw"]) == {""}
    assert forecast["forecast_d1_mw"].to_list() == cells["c6"].tail(16).to_list()
    assert forecast.row(0, named=True)["period_start"] == "2021-12-31T19:00:00Z"
    assert set(frame["nature"]) == {"real-time"} and set(frame["perimeter"]) == {"France"}
    assert frame["oil_cogeneration_mw"][0] == "33"  # « Fioul - Cogén. », abbreviated by RTE
    assert frame["physical_exchange_mw"][40] == "" and frame["physical_exchange_mw"][39] != ""


def test_eco2mix_period_end_follows_the_files_own_step(samples: Path, tmp_path: Path) -> None:
    lines = (samples / ECO2MIX).read_text(encoding="utf-8").splitlines()
    half_hours = [line for line in lines[1:] if line.split(";")[3].endswith((":00", ":30"))]
    path = tmp_path / "eco2mix-30min.csv"
    path.write_text("\n".join([lines[0], *half_hours]) + "\n", encoding="utf-8")
    frame, problems = read(bundled("rte-eco2mix-national"), path)
    assert (frame.height, problems) == (1488, [])
    assert durations(frame) == {timedelta(minutes=30)}
    assert frame.row(0, named=True)["period_end"] == "2021-12-11T09:30:00Z"


def test_eco2mix_refuses_a_file_that_is_not_eco2mix(samples: Path) -> None:
    with pytest.raises(ReaderError, match="not an éCO2mix file"):
        read(bundled("rte-eco2mix-national"), samples / AMPRION)


# --- tso-csv -------------------------------------------------------------------------------


def test_amprion_demand_in_utc_with_midnight_ends_on_the_next_day(samples: Path) -> None:
    frame, problems = read(bundled("amprion-demand"), samples / AMPRION)
    assert (frame.height, problems) == (2976, [])
    picked = frame.filter(pl.col("_row").is_in([2, 97, 2977])).select(
        "period_start", "period_end", "consumption_mw"
    )
    assert picked.rows() == [
        ("2012-12-31T23:00:00Z", "2012-12-31T23:15:00Z", "15768"),  # 2013-01-01 00:00 CET
        ("2013-01-01T22:45:00Z", "2013-01-01T23:00:00Z", "15048"),  # 23:45 → 00:00
        ("2013-01-31T22:45:00Z", "2013-01-31T23:00:00Z", "22593"),
    ]
    assert set(frame["perimeter"]) == {"Amprion control area"} and set(frame["nature"]) == {
        "real-time"
    }
    assert durations(frame) == {QUARTER} and set(frame["wind_mw"]) == {""}


def tso_day(samples: Path, tmp_path: Path, slots: list[str]) -> Path:
    """Real Amprion demand values relabelled onto the local slots given as 'date,from,to'."""
    values = [line.split(",")[3] for line in (samples / AMPRION).read_text().splitlines()[1:]]
    lines = ["date,time_from,time_to,demand"]
    lines += [f"{slot},{value}" for slot, value in zip(slots, values, strict=False)]
    path = tmp_path / "tso.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def quarters(day: str, start: str, end: str) -> list[str]:
    """`day,HH:MM,HH:MM` slots from `start` to `end` (excluded), local time."""
    moment, stop = datetime.fromisoformat(f"{day}T{start}"), datetime.fromisoformat(f"{day}T{end}")
    slots = []
    while moment < stop:
        slots.append(f"{day},{moment:%H:%M},{moment + QUARTER:%H:%M}")
        moment += QUARTER
    return slots


def test_tso_daylight_saving_days_give_an_unbroken_utc_series(
    samples: Path, tmp_path: Path
) -> None:
    autumn = "2013-10-27"  # 02:00-03:00 comes twice: summer time first, then winter time
    slots = quarters(autumn, "01:00", "03:00") + quarters(autumn, "02:00", "04:00")
    frame, problems = read(bundled("amprion-demand"), tso_day(samples, tmp_path, slots))
    assert (frame.height, problems) == (16, [])
    starts = instants(frame["period_start"])
    assert starts[0] == datetime.fromisoformat("2013-10-26T23:00:00+00:00")
    assert starts.diff().drop_nulls().unique().to_list() == [QUARTER]  # no gap, no overlap
    assert frame.row(4, named=True)["period_start"] == "2013-10-27T00:00:00Z"  # 02:00 CEST
    assert frame.row(8, named=True)["period_start"] == "2013-10-27T01:00:00Z"  # 02:00 CET
    assert durations(frame) == {QUARTER}
    spring = "2013-03-31"  # 02:00-03:00 does not exist: the 01:45 slot ends at 03:00 CEST
    slots = quarters(spring, "01:00", "02:00") + quarters(spring, "03:00", "04:00")
    frame, problems = read(bundled("amprion-demand"), tso_day(samples, tmp_path, slots))
    assert (frame.height, problems) == (8, [])
    assert frame.select("period_start", "period_end").row(3) == (
        "2013-03-31T00:45:00Z", "2013-03-31T01:00:00Z"
    )  # fmt: skip
    assert instants(frame["period_start"]).diff().drop_nulls().unique().to_list() == [QUARTER]


def test_tso_times_that_no_clock_shows_are_problems(samples: Path, tmp_path: Path) -> None:
    slots = ["2013-03-31,02:15,02:30", "2013-10-27,02:30,02:45", "2013-01-02,00:00,00:15"]
    frame, problems = read(bundled("amprion-demand"), tso_day(samples, tmp_path, slots))
    assert frame.height == 3
    notes = {(p.row, p.field) for p in problems}
    # Skipped by the spring change; repeated in autumn but given once: no single instant.
    assert {(2, "period_start"), (3, "period_start")} <= notes
    assert all("Europe/Berlin" in p.note for p in problems if p.row in (2, 3))
    assert 4 not in {p.row for p in problems}
    assert frame.row(2, named=True)["period_start"] == "2013-01-01T23:00:00Z"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"perimeter": None}, "needs options.perimeter"),
        ({"nature": ""}, "needs options.nature"),
        ({"timezone": None}, "needs options.timezone"),
        ({"field": "perimeter"}, "not a number field"),
        ({"value_column": "load"}, "'load' is not in the file"),
    ],
)
def test_tso_options_are_declared_not_guessed(samples: Path, options: dict, message: str) -> None:
    with pytest.raises(ReaderError, match=message):
        read(bundled("amprion-demand", **options), samples / AMPRION)


# --- load-curve-csv ------------------------------------------------------------------------


def test_sceaux_load_curve_gives_four_channels_a_minute_in_utc(samples: Path) -> None:
    frame, problems = read(bundled("sceaux-household-load-curve"), samples / SCEAUX)
    assert (frame.height, problems) == (4 * 2880, [])
    assert set(frame["subject_key"]) == {METER} and set(frame["quality"]) == {"measured"}
    first_minute = frame.head(4).select(
        "period_start", "period_end", "circuit", "quantity", "value", "unit"
    )
    assert first_minute.rows() == [  # 01/02/2007 00:00:00, Paris winter time
        ("2007-01-31T23:00:00Z", "2007-01-31T23:01:00Z", "main", "power", "0.326", "kW"),
        ("2007-01-31T23:00:00Z", "2007-01-31T23:01:00Z", "kitchen", "energy", "0.000", "Wh"),
        ("2007-01-31T23:00:00Z", "2007-01-31T23:01:00Z", "laundry", "energy", "0.000", "Wh"),
        ("2007-01-31T23:00:00Z", "2007-01-31T23:01:00Z", "water-heater-ac", "energy", "0", "Wh"),
    ]
    last = frame.filter(pl.col("_row") == 2881).select("period_start", "circuit", "value")
    assert last.rows() == [  # 02/02/2007 23:59:00: 3.68 kW, 2 Wh laundry, 18 Wh water heater
        ("2007-02-02T22:59:00Z", "main", "3.68"),
        ("2007-02-02T22:59:00Z", "kitchen", "0.000"),
        ("2007-02-02T22:59:00Z", "laundry", "2.000"),
        ("2007-02-02T22:59:00Z", "water-heater-ac", "18"),
    ]
    assert durations(frame) == {timedelta(minutes=1)}
    assert frame.select(pl.struct("period_start", "circuit").n_unique()).item() == frame.height


def with_gaps(samples: Path, folder: Path) -> Path:
    """The first nine real minutes, the 3rd wholly unrecorded and the 5th's sub-meter 3."""
    header, *lines = (samples / SCEAUX).read_text(encoding="utf-8").splitlines()[:10]
    cells = [line.split(";") for line in lines]
    cells[2][2:9] = ["?"] * 7  # the UCI file's whole-minute gaps: every measure is '?'
    cells[4][8] = "?"
    folder.mkdir(exist_ok=True)
    path = folder / "gaps.txt"
    path.write_text("\n".join([header, *(";".join(c) for c in cells)]) + "\n", encoding="utf-8")
    return path


def test_question_marks_are_missing_readings_with_a_problem(samples: Path, tmp_path: Path) -> None:
    frame, problems = read(bundled("sceaux-household-load-curve"), with_gaps(samples, tmp_path))
    assert frame.height == 4 * 9
    assert [(p.row, p.field) for p in problems] == [(4, "value")] * 4 + [(6, "value")]
    assert problems[-1].note == "no Sub_metering_3 reading for this period: the file gives '?'"
    assert frame.filter(pl.col("_row") == 4)["value"].to_list() == ["", "", "", ""]
    assert frame.filter(pl.col("_row") == 6)["value"].to_list() == ["0.322", "0.000", "0.000", ""]


def test_the_load_curve_needs_its_meter_key(samples: Path) -> None:
    with pytest.raises(ReaderError, match="needs options.meter"):
        read(bundled("sceaux-household-load-curve", meter=None), samples / SCEAUX)


def test_declared_units_turn_the_load_curve_into_kwh(samples: Path) -> None:
    units = {"value": {"from": "kW", "to": "kWh", "period_from": "period_start",
                       "period_to": "period_end", "quantity_field": "quantity"}}  # fmt: skip
    frame, problems = read(bundled("sceaux-household-load-curve", units=units), samples / SCEAUX)
    assert (frame.height, problems) == (4 * 2880, [])
    assert set(frame["unit"]) == {"kWh"} and set(frame["quantity"]) == {"energy"}
    last = frame.filter(pl.col("_row") == 2881)["value"].to_list()
    # 3.68 kW for one minute = 3.68 / 60 kWh; 2 Wh = 0.002 kWh; 18 Wh = 0.018 kWh.
    assert last == ["0.0613333333333", "0", "0.002", "0.018"]


# --- harvested end to end ------------------------------------------------------------------


def stored(engine: Engine, dataset_id: str, *fields: str) -> list[tuple[Any, ...]]:
    """The dataset's stored records (fields in order), sorted."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset_id))
    columns = [layout.table.c[layout.columns[f]] for f in fields]
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(*columns)).all())


def utc_text(moment: datetime | str) -> str:
    """A stored instant (naive UTC on SQLite, aware on PostgreSQL) in canonical text."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("name", "rows", "first"),
    [
        ("rte-eco2mix-national", 2976, ("2021-11-30T23:00:00Z", 67200.0)),
        ("amprion-demand", 2976, ("2012-12-31T23:00:00Z", 15768.0)),
    ],
)
def test_energy_mix_sources_harvest_whole(
    engine: Engine, name: str, rows: int, first: tuple
) -> None:
    outcome = harvest_source(bundled(name))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", rows, rows, 0
    )  # fmt: skip
    records = stored(engine, name, "period_start", "consumption_mw", "period_end")
    assert len(records) == rows
    start, consumption, end = records[0]
    assert (utc_text(start), consumption) == first
    assert (
        datetime.fromisoformat(utc_text(end)) - datetime.fromisoformat(utc_text(start)) == QUARTER
    )
    with Session(engine) as session:
        time_min = catalogue.get(session, name).time_min
    assert time_min is not None and utc_text(time_min) == first[0]


def test_the_load_curve_is_published_as_personal_data(engine: Engine) -> None:
    outcome = harvest_source(bundled("sceaux-household-load-curve"))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 11520, 11520, 0
    )  # fmt: skip
    with Session(engine) as session:
        dataset = catalogue.get(session, "sceaux-household-load-curve")
        assert (dataset.charter_id, dataset.access) == ("grid-demo-load-curves", "personal")
    records = stored(
        engine, "sceaux-household-load-curve", "period_start", "circuit", "value", "subject_key"
    )
    # The gate stored the hub's pseudonym of the meter number, never the number.
    assert (utc_text(records[0][0]), records[0][1:]) == (
        "2007-01-31T23:00:00Z",
        ("kitchen", 0.0, pseudonym("grid-demo", METER)),
    )
    assert {row[3] for row in records} == {pseudonym("grid-demo", METER)}
    path = "/api/v1/datasets/sceaux-household-load-curve/records"
    with client_for(engine) as client:
        anonymous = client.get(path)
        assert anonymous.status_code == 401 and METER not in anonymous.text
        other = client.get(path, headers=bearer(engine, "operator", "rte"))
        assert other.status_code == 403 and METER not in other.text
        own = client.get(f"{path}?limit=4", headers=bearer(engine, "operator", "grid-demo"))
        assert own.status_code == 200 and METER not in own.text
        assert own.json()["records"][0]["subject_key"] == pseudonym("grid-demo", METER)


def test_missing_minutes_are_quarantined_whole(
    engine: Engine, tmp_path: Path, samples: Path
) -> None:
    folder = tmp_path / "feeds"
    with_gaps(samples, folder)
    text = (SOURCES / "sceaux-household-load-curve.yaml").read_text(encoding="utf-8")
    text = text.replace("id: sceaux-household-load-curve", "id: sceaux-gaps").replace(
        "file://{samples}/energy/household_power_consumption_2007-02-01_02.txt", "gaps.txt"
    )
    (folder / "gaps.yaml").write_text(text, encoding="utf-8")
    outcome = harvest_source(load_source(folder / "gaps.yaml"))
    # Rows 4 and 6 (a '?' minute and a '?' sub-meter) go to quarantine with all four channels.
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "partial", 36, 28, 8
    )  # fmt: skip
    with Session(engine) as session:
        held = catalogue.quarantined(session, "sceaux-gaps")
    assert [(q.row_number, q.cells["circuit"]) for q in held] == [
        (n, c) for n in (4, 6) for c in ("main", "kitchen", "laundry", "water-heater-ac")
    ]
    notes = " ".join(str(q.errors) for q in held if q.row_number == 6)
    assert "no Sub_metering_3 reading for this period: the file gives '?'" in notes
    assert {q.cells["value"] for q in held if q.row_number == 4} == {""}
    assert {q.cells["subject_key"] for q in held} == {pseudonym("grid-demo", METER)}


# --- real files of other shapes --------------------------------------------------------------

# RTE's consolidated download, lines of thomasissa-png/Tempo eCO2mix_RTE_En-cours-Consolide.xls:
# Latin-1, tabs, a tab ending every row but not the header, measures every half hour and
# forecasts every quarter-hour, 96 rows on the spring DST day (02:00-02:45 copy 03:00-03:45),
# the four columns RTE added in 2024, and RTE's disclaimer.
CONSOLIDATED_HEADER = [
    *RTE_HEADER, " Stockage batterie", "Déstockage batterie", "Eolien terrestre", "Eolien offshore",
]  # fmt: skip
CONSOLIDATED_ROWS = [
    "2024-01-01\t00:00\t55239\t55000\t54200\t96\t18\t1975\t39886\t15557\t0\t6671\t-2274\t1211\t"
    "-7824\t20\t-1447\t-2636\t-2235\t-2214\t2360\t14\t63\t18\t88\t761\t201\t926\t5001\t1553\t117\t"
    "510\t354\t347\t0\t0\t14976\t581",
    "2024-01-01\t00:15\t\t54300\t53400" + "\t" * 33,
    "2024-03-31\t01:45\t\t46423\t45700" + "\t" * 33,
    "2024-03-31\t02:00\t46383\t46423\t45700\t103\t8\t1747\t36047\t8264\t0\t10135\t-752\t1256\t"
    "-10374\t21\t-3528\t2450\t279\t-2014\t-7516\t7\t78\t18\t65\t704\t142\t835\t6736\t2638\t761\t"
    "533\t376\t347\t0\t0\t7985\t279",
    "2024-03-31\t03:00\t46383\t46646\t46600\t103\t8\t1747\t36047\t8264\t0\t10135\t-752\t1256\t"
    "-10374\t21\t-3528\t2450\t-646\t-2015\t-6367\t7\t78\t18\t65\t704\t142\t835\t6736\t2638\t761\t"
    "533\t376\t347\t0\t0\t7985\t279",
]
RTE_DISCLAIMER = (
    "RTE ne pourra être tenu responsable de l'usage qui pourrait être fait des données mises à "
    "disposition, ni en cas de prévisions qui se révèleraient imprécises."
)


def consolidated_download(folder: Path) -> Path:
    lines = ["\t".join(CONSOLIDATED_HEADER)]
    lines += [f"France\tDonnées consolidées\t{row}\t" for row in CONSOLIDATED_ROWS]
    folder.mkdir(exist_ok=True)
    path = folder / "eCO2mix_RTE_En-cours-Consolide.xls"
    path.write_bytes(("\n".join([*lines, RTE_DISCLAIMER, "", ""])).encode("latin-1"))
    return path


def test_rte_consolidated_download_final_tabs_are_no_extra_cells(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = consolidated_download(tmp_path)
    with caplog.at_level("INFO", logger="pipelines.readers.eco2mix"):
        chunks = list(read_records(bundled("rte-eco2mix-national"), Fetched(path)))
    frame = pl.concat([c.frame for c in chunks])
    problems = [p for c in chunks for p in c.problems]
    # Before, every row carried an extra-cell error for its final tab: the gate refused all.
    assert frame.height == 5 and frame["_error"].null_count() == 5
    assert set(frame["nature"]) == {"consolidated"}
    assert frame.select("period_start", "consumption_mw", "forecast_d1_mw", "wind_mw").rows() == [
        ("2023-12-31T23:00:00Z", "55239", "55000", "15557"),
        ("2023-12-31T23:15:00Z", "", "54300", ""),
        ("2024-03-31T00:45:00Z", "", "46423", ""),
        ("2024-03-31T02:00:00", "46383", "46423", "8264"),  # skipped by French clocks
        ("2024-03-31T01:00:00Z", "46383", "46646", "8264"),
    ]
    assert {(p.row, p.field) for p in problems} == {(5, "period_start"), (5, "period_end")}
    assert "Europe/Paris" in problems[0].note
    # RTE's 2024 columns have their energy-mix 1.1.0 fields; onshore + offshore = Eolien
    columns = ("battery_charge_mw", "battery_discharge_mw", "wind_onshore_mw", "wind_offshore_mw")
    assert frame.select(*columns).row(0) == ("0", "0", "14976", "581")
    assert "left out" not in caplog.text


def test_rte_consolidated_download_is_harvested(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "feeds"
    consolidated_download(folder)
    text = (SOURCES / "rte-eco2mix-national.yaml").read_text(encoding="utf-8")
    text = text.replace("id: rte-eco2mix-national", "id: rte-consolidated").replace(
        "file://{samples}/energy/eco2mix-national-tr.csv", "eCO2mix_RTE_En-cours-Consolide.xls"
    )
    (folder / "rte.yaml").write_text(text, encoding="utf-8")
    outcome = harvest_source(load_source(folder / "rte.yaml"))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "partial", 5, 4, 1
    )  # fmt: skip
    records = stored(engine, "rte-consolidated", "period_start", "forecast_d1_mw", "nature")
    assert [(utc_text(start), forecast, nature) for start, forecast, nature in records] == [
        ("2023-12-31T23:00:00Z", 55000.0, "consolidated"),
        ("2023-12-31T23:15:00Z", 54300.0, "consolidated"),
        ("2024-03-31T00:45:00Z", 46423.0, "consolidated"),
        ("2024-03-31T01:00:00Z", 46646.0, "consolidated"),
    ]


def test_uci_published_file_unpadded_dates_and_unrecorded_minutes(tmp_path: Path) -> None:
    # Lines of the UCI archive's household_power_consumption.txt (first line, 1 January 2007,
    # and its unrecorded minutes written `?;?;?;?;?;?;`: Sub_metering_3 is left empty).
    path = tmp_path / "household_power_consumption.txt"
    path.write_text(
        "Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;"
        "Sub_metering_1;Sub_metering_2;Sub_metering_3\n"
        "1/1/2007;00:00:00;2.580;0.136;241.970;10.600;0.000;0.000;0.000\n"
        "1/1/2007;00:01:00;2.552;0.100;241.750;10.400;0.000;0.000;0.000\n"
        "1/1/2007;00:02:00;?;?;?;?;?;?;\n",
        encoding="utf-8",
    )
    frame, problems = read(bundled("sceaux-household-load-curve"), path)
    assert frame.filter(pl.col("_row") == 2).select("period_start", "value").rows()[0] == (
        "2006-12-31T23:00:00Z", "2.580"
    )  # fmt: skip
    assert [(p.row, p.note) for p in problems][-1] == (
        4, "no Sub_metering_3 reading for this period: the file gives an empty cell"
    )  # fmt: skip
    assert len(problems) == 4 and set(frame.filter(pl.col("_row") == 4)["value"]) == {""}
