"""hub.aggregates: groups under k subjects suppressed, and no difference of published cells —
across levels, groups, fields and windows — reveals one (hypothesis against an oracle).

Households are built from the real UCI Sceaux load curve (../shared/data): each household reads
the curve from its own offset, so values are real consumption, and published through the gate.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlmodel import Session, select

from hub import aggregates, catalogue
from hub.access import ANONYMOUS, Actor
from hub.aggregates import AggregateError, Answer, Question, bucket_floor, following
from hub.catalogue import Batch, Publisher, publish
from hub.config import PROJECT_ROOT, get_settings
from hub.models import AccessEvent
from hub.reading import Caller

SAMPLE = "energy/household_power_consumption_2007-02-01_02.txt"
GRID = Publisher("grid-demo", "Demo grid operator")
# circuit → (quantity, unit, the UCI column it reads): a circuit determines its quantity and unit.
# One unit throughout, so that any cell may be summed (test_several_units_are_not_added mixes them).
CHANNELS = {
    "main": ("energy", "Wh", "Global_active_power"),
    "kitchen": ("energy", "Wh", "Sub_metering_1"),
    "laundry": ("energy", "Wh", "Sub_metering_2"),
    "water-heater-ac": ("energy", "Wh", "Sub_metering_3"),
    "ev-charger": ("energy", "Wh", "Sub_metering_3"),  # a rare sub-meter, one household's
}
GROUPABLE = ("circuit", "quantity", "unit", "quality")
SMALL_K = 3
CALLER = Caller(ANONYMOUS, "test")


class Reading(NamedTuple):
    """One row of schema energy-consumption, before the gate."""

    subject: str
    start: datetime
    circuit: str
    value: float
    quality: str = "measured"
    minutes: int = 60

    def group(self, field: str) -> str:
        """The reading's value of a groupable field."""
        quantity, unit, _ = CHANNELS[self.circuit]
        return {
            "circuit": self.circuit,
            "quantity": quantity,
            "unit": unit,
            "quality": self.quality,
        }[field]


@lru_cache(maxsize=1)
def sceaux() -> dict[str, list[float]]:
    """The real curve: a value per minute of each UCI column read."""
    path = Path(get_settings().samples_dir) / SAMPLE
    frame = pl.read_csv(path, separator=";", infer_schema=False)
    columns = {column for _, _, column in CHANNELS.values()}
    return {c: [float(v) for v in frame[c].to_list()] for c in columns}


def real_value(circuit: str, minute: int) -> float:
    """The Sceaux curve's value of a circuit's column at a minute (wrapping round two days)."""
    series = sceaux()[CHANNELS[circuit][2]]
    return series[minute % len(series)]


def household(
    subject: str,
    offset: int,
    hours: Iterable[datetime],
    circuits: Sequence[str],
    quality: str = "measured",
    per_hour: int = 1,
) -> list[Reading]:
    """A household's readings: `per_hour` a hour on each circuit, from its offset in the curve.

    Each value gets the household's signature, a few thousandths, so that no sum hides a
    household behind a reading of 0 (most sub-meter minutes of the curve are 0)."""
    signature = (int(subject.rsplit("-", 1)[1], 36) % 997 + 1) / 1000
    rows = []
    for moment in hours:
        step = 60 // per_hour
        for part in range(per_hour):
            start = moment + timedelta(minutes=part * step)
            minute = offset + int((start - datetime(2026, 1, 1, tzinfo=UTC)).total_seconds() // 60)
            for circuit in circuits:
                value = round(real_value(circuit, minute) + signature, 6)
                rows.append(Reading(subject, start, circuit, value, quality, step))
    return rows


def hours_from(start: datetime, count: int) -> list[datetime]:
    """`count` consecutive hours from `start`."""
    return [start + timedelta(hours=h) for h in range(count)]


def frame_of(readings: Sequence[Reading]) -> pl.DataFrame:
    """Readings as the gate takes them: text columns named by the schema, `_row` from 2."""
    rows = []
    for r in readings:
        quantity, unit, _ = CHANNELS[r.circuit]
        rows.append(
            {
                "subject_key": r.subject,
                "period_start": f"{r.start:%Y-%m-%dT%H:%M:%SZ}",
                "period_end": f"{r.start + timedelta(minutes=r.minutes):%Y-%m-%dT%H:%M:%SZ}",
                "circuit": r.circuit,
                "quantity": quantity,
                "value": repr(r.value),
                "unit": unit,
                "quality": r.quality,
            }
        )
    frame = pl.DataFrame(rows, schema={k: pl.Utf8 for k in rows[0]})
    return frame.with_columns(pl.Series("_row", range(2, 2 + len(rows)), dtype=pl.Int64))


def publish_readings(
    engine: Engine, dataset_id: str, readings: Sequence[Reading], charter: str
) -> None:
    """Publish household readings through the gate, under a personal charter."""
    run = publish(
        Batch(
            dataset_id=dataset_id,
            title=f"Household load curves ({dataset_id})",
            publisher=GRID,
            theme="energy",
            schema="energy-consumption",
            charter=charter,
            chunks=[frame_of(readings)],
            description="Load curves, each household's for itself.",
            source_url="https://example.org/curves.csv",
        ),
        engine=engine,
    )
    assert run.status == "succeeded" and run.rows_published == len(readings), run.error


def small_group_charter(folder: Path, k: int) -> str:
    """The bundled personal charter, as a territory's copy with `min_group_size: k`."""
    bundled = yaml.safe_load(
        (PROJECT_ROOT / "charters" / "grid-demo-load-curves@2.0.yaml").read_text("utf-8")
    )
    charter_id = f"grid-demo-groups-of-{k}"
    bundled.update(id=charter_id, version="1.0")
    bundled["personal_data"]["min_group_size"] = k
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{charter_id}.yaml").write_text(yaml.safe_dump(bundled), encoding="utf-8")
    return charter_id


@pytest.fixture(name="small_k")
def small_k_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A personal charter whose minimum group size is SMALL_K."""
    charter = small_group_charter(tmp_path / "charters", SMALL_K)
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()
    return charter


def ask(engine: Engine, dataset_id: str, question: Question) -> Answer:
    """The hub's answer, through hub.aggregates as the route calls it."""
    with Session(engine) as session:
        dataset = catalogue.get(session, dataset_id)
        return aggregates.read_aggregates(session, dataset, CALLER, question)


# --- the oracle: the rule of hub.aggregates' docstring, written again in plain Python ----------


class Expected(NamedTuple):
    """An oracle cell: subjects and sum over its kept atoms, readings, whether it lost atoms."""

    subjects: int
    total: float
    readings: int
    complete: bool


def oracle(
    readings: Sequence[Reading], question: Question, k: int
) -> dict[tuple[datetime, str | None], Expected]:
    """Every cell the rule publishes, by (bucket, group value); absent or 0 subjects: hidden."""
    atoms: dict[tuple[Any, ...], list[Reading]] = defaultdict(list)
    for r in readings:
        if question.start <= r.start < question.end:
            hour = bucket_floor("hour", r.start)
            atoms[(hour, *(r.group(f) for f in GROUPABLE))].append(r)
    cells: dict[tuple[datetime, str | None], list[tuple[bool, list[Reading]]]] = defaultdict(list)
    for key, rows in atoms.items():
        kept = len({r.subject for r in rows}) >= k
        value = rows[0].group(question.group) if question.group else None
        cells[(bucket_floor(question.by, key[0]), value)].append((kept, rows))
    expected = {}
    for cell, parts in cells.items():
        shown = [r for kept, rows in parts if kept for r in rows]
        expected[cell] = Expected(
            len({r.subject for r in shown}),
            sum(r.value for r in shown),
            len(shown),
            all(kept for kept, _ in parts),
        )
    return expected


def nominal(
    readings: Sequence[Reading], by: str, field: str | None, value: str | None, bucket: datetime
) -> list[Reading]:
    """Every reading of a cell, as a publication without suppression would sum them."""
    return [
        r
        for r in readings
        if bucket_floor(by, r.start) == bucket and (field is None or r.group(field) == value)
    ]


def close(a: float, b: float) -> bool:
    """Equal but for rounding (each value gets a household's signature of 0.001 or more: far
    more than this tolerance, so no hidden reading passes for rounding)."""
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


def check_against_oracle(answer: Answer, readings: Sequence[Reading]) -> None:
    """Each cell of the answer is the oracle's; every published cell has k subjects or more."""
    expected = oracle(readings, answer.question, answer.k)
    for cell in answer.cells:
        want = expected.get((cell.bucket, cell.group))
        if want is None or want.subjects == 0:
            assert cell.suppressed and cell.sum is None and cell.mean is None, cell
            continue
        assert cell.subjects is not None and cell.subjects >= answer.k, cell
        assert (cell.subjects, cell.complete) == (want.subjects, want.complete), cell
        assert cell.sum is not None and cell.mean is not None
        assert close(cell.sum, want.total) and close(cell.mean, want.total / want.readings)
    listed = {(c.bucket, c.group) for c in answer.cells}
    published = {key for key, want in expected.items() if want.subjects}
    assert published <= listed  # no published cell is left out of the answer


def sums(answer: Answer) -> dict[tuple[datetime, str | None], float]:
    """What an attacker reads off an answer: the published sums (hidden ones are unknown)."""
    return {(c.bucket, c.group): c.sum for c in answer.cells if c.sum is not None}


def residuals(
    parent: Answer, children: Answer, member: Any = None
) -> list[tuple[datetime, str | None, float, float]]:
    """Each published parent cell beside the sum of the published children inside it: their
    difference is what hidden children would be, were the parent a total over every row.
    `member(parent group, child group)` says which child groups make up a parent's group
    (default: the same value)."""
    inside = member or (lambda mine, theirs: mine == theirs)
    found = []
    child_sums = sums(children)
    by = parent.question.by
    for (bucket, value), total in sums(parent).items():
        parts = [
            s
            for (b, v), s in child_sums.items()
            if bucket_floor(by, b) == bucket and inside(value, v)
        ]
        found.append((bucket, value, total, sum(parts)))
    return found


# --- fixed cases ------------------------------------------------------------------------------

DAY = datetime(2026, 11, 2, tzinfo=UTC)


def test_buckets_must_be_whole_and_few() -> None:
    assert aggregates.bucket_starts("day", DAY, DAY + timedelta(days=3)) == [
        DAY,
        DAY + timedelta(days=1),
        DAY + timedelta(days=2),
    ]
    november, december = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert aggregates.bucket_starts("month", november, datetime(2027, 1, 1, tzinfo=UTC)) == [
        november,
        december,
    ]
    with pytest.raises(AggregateError, match="is not the start of a day.*2026-11-02T00:00:00Z"):
        aggregates.bucket_starts("day", DAY + timedelta(hours=5), DAY + timedelta(days=2))
    with pytest.raises(AggregateError, match="to=2026-11-02T10:30:00Z is not the start of an hour"):
        aggregates.bucket_starts("hour", DAY, DAY + timedelta(hours=10, minutes=30))
    with pytest.raises(AggregateError, match="not the start of a month"):
        aggregates.bucket_starts("month", DAY, datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(AggregateError, match="must be before"):
        aggregates.bucket_starts("day", DAY, DAY)
    with pytest.raises(AggregateError, match="more than 1000 hours"):
        aggregates.bucket_starts("hour", DAY, DAY + timedelta(hours=1001))
    assert len(aggregates.bucket_starts("hour", DAY, DAY + timedelta(hours=1000))) == 1000
    with pytest.raises(AggregateError, match="aggregates are by hour, day, month"):
        aggregates.bucket_starts("week", DAY, DAY + timedelta(days=7))
    assert following("month", datetime(2028, 2, 1, tzinfo=UTC)) == datetime(2028, 3, 1, tzinfo=UTC)


@pytest.fixture
def curves(engine: Engine, small_k: str) -> list[Reading]:
    """Six households under a charter with k = 3: a day with all of them but an hour with two,
    one household's EV charger, an hour of two on the next day, one household's lone evening,
    and two households' estimated readings of one hour."""
    readings: list[Reading] = []
    keys = [f"pdl-household-{i:02d}" for i in range(6)]
    for index, key in enumerate(keys):
        # at 03:00 only the first two households read: an hour of two inside a day of six
        hours = [h for h in hours_from(DAY, 24) if index < 2 or h.hour != 3]
        readings += household(key, 97 * index, hours, ["main", "kitchen"])
    readings += household(keys[0], 5, hours_from(DAY, 24), ["ev-charger"])  # one EV charger
    readings += household(keys[1], 11, hours_from(DAY + timedelta(days=1), 1), ["main"])
    readings += household(keys[2], 13, hours_from(DAY + timedelta(days=1), 1), ["main"])
    readings += household(keys[3], 17, hours_from(DAY + timedelta(days=2, hours=20), 3), ["main"])
    readings += household(
        "pdl-household-e1", 23, [DAY + timedelta(hours=10)], ["main"], "estimated"
    )
    readings += household(
        "pdl-household-e2", 29, [DAY + timedelta(hours=10)], ["main"], "estimated"
    )
    publish_readings(engine, "curves", readings, small_k)
    return readings


def test_small_groups_are_hidden_and_what_is_shown_matches_the_rule(engine, curves) -> None:
    window = (DAY, DAY + timedelta(days=3))
    day = ask(engine, "curves", Question("day", *window))
    assert day.k == SMALL_K and day.measure == "value"
    shown = [(c.bucket.day, c.subjects, c.complete) for c in day.cells]
    # day 1: six households, not the two whose estimated hour is theirs alone (incomplete);
    # day 2: two households; day 3: one
    assert shown == [(2, 6, False), (3, None, None), (4, None, None)]
    for question in (
        Question("hour", *window),
        Question("hour", *window, group="circuit"),
        Question("day", *window, group="quality"),
        Question("month", datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    ):
        check_against_oracle(ask(engine, "curves", question), curves)


def test_a_day_minus_its_published_hours_reveals_nothing(engine, curves) -> None:
    window = (DAY, DAY + timedelta(days=2))
    for group in (None, "circuit", "quality"):
        days = ask(engine, "curves", Question("day", *window, group=group))
        hours = ask(engine, "curves", Question("hour", *window, group=group))
        for bucket, value, total, parts in residuals(days, hours):
            assert close(total, parts), (bucket, value, total, parts)
    # Without suppression, the same differences would be the two households' 03:00, and the two
    # estimated households' 10:00.
    cells = ask(engine, "curves", Question("hour", *window)).cells
    three = nominal(curves, "hour", None, None, DAY + timedelta(hours=3))
    assert {r.subject for r in three} == {"pdl-household-00", "pdl-household-01"}
    assert [c.suppressed for c in cells if c.bucket.hour == 3] == [True, True]
    assert sum(r.value for r in three) > 0
    hidden = nominal(curves, "hour", "quality", "estimated", DAY + timedelta(hours=10))
    assert {r.subject for r in hidden} == {"pdl-household-e1", "pdl-household-e2"}
    cells = ask(engine, "curves", Question("hour", *window, group="quality")).cells
    estimated = [c for c in cells if c.group == "estimated" and c.bucket.hour == 10][0]
    assert estimated.suppressed and sum(r.value for r in hidden) > 0


def test_a_total_minus_its_groups_and_one_field_minus_another_reveal_nothing(
    engine, curves
) -> None:
    window = (DAY, DAY + timedelta(days=1))
    for by in ("hour", "day"):
        total = ask(engine, "curves", Question(by, *window))
        for field in ("circuit", "quantity", "unit", "quality"):
            grouped = ask(engine, "curves", Question(by, *window, group=field))
            for bucket, _, whole, parts in residuals(total, grouped, lambda _, __: True):
                assert close(whole, parts), (by, field, bucket, whole, parts)
        # quantity=energy is kitchen + ev-charger (+ the others): the EV charger, one household's,
        # is hidden, and energy minus the published circuits is 0, not its consumption
        quantities = ask(engine, "curves", Question(by, *window, group="quantity"))
        circuits = ask(engine, "curves", Question(by, *window, group="circuit"))
        for bucket, value, whole, parts in residuals(
            quantities, circuits, lambda q, c: CHANNELS[c][0] == q
        ):
            assert close(whole, parts), (by, bucket, value, whole, parts)
        charger = [c for c in circuits.cells if c.group == "ev-charger"]
        assert charger == []  # a value never published is not even named
    units = ask(engine, "curves", Question("day", *window, group="unit"))
    assert [c.group for c in units.cells] == ["Wh", "kWh", "MWh", "W", "kW", "MW"]  # the enum
    ev = sum(r.value for r in nominal(curves, "day", "circuit", "ev-charger", DAY))
    energy = [c for c in ask(engine, "curves", Question("day", *window, group="quantity")).cells]
    kitchen = sum(r.value for r in nominal(curves, "day", "circuit", "kitchen", DAY))
    published_energy = next(c.sum for c in energy if c.group == "energy")
    assert ev > 0 and published_energy is not None and not close(published_energy, kitchen + ev)


def test_overlapping_windows_publish_the_same_cells(engine, curves) -> None:
    first = ask(engine, "curves", Question("hour", DAY, DAY + timedelta(hours=30)))
    second = ask(
        engine, "curves", Question("hour", DAY + timedelta(hours=9), DAY + timedelta(days=3))
    )
    shared = {c.bucket: c for c in first.cells} | {}
    overlap = [c for c in second.cells if c.bucket in shared]
    assert len(overlap) == 21 and all(shared[c.bucket] == c for c in overlap)


def test_k_comes_from_the_charter_and_a_token_holders_read_is_logged(engine, curves) -> None:
    window = (DAY, DAY + timedelta(days=1))
    for _ in range(3):
        answer = ask(engine, "curves", Question("day", *window))
    assert answer.k == SMALL_K and answer.cells[0].subjects == 6
    agency = Caller(Actor(id="t0042", role="agency", organizations=frozenset({"city"})), "test")
    with Session(engine) as session:
        dataset = catalogue.get(session, "curves")
        aggregates.read_aggregates(session, dataset, agency, Question("day", *window))
    with Session(engine) as session:
        events = session.exec(select(AccessEvent).where(AccessEvent.dataset_id == "curves")).all()
    # anonymous reads of public cells are not chained (anyone could grow the log at will)
    assert [(e.scope, e.outcome, e.actor_id, e.actor_role, e.rows) for e in events] == [
        ("aggregates", "granted", "t0042", "agency", 0)
    ]
    assert "groups of fewer than 3 data subjects suppressed" in events[0].reason


def test_fields_and_measures_are_checked(engine, curves) -> None:
    window = (DAY, DAY + timedelta(days=1))
    for group, message in (
        ("subject_key", "this dataset's are: circuit, quantity, unit, quality"),
        ("value", "not a field aggregates can be grouped by"),
        ("period_start", "not a field aggregates can be grouped by"),
        ("nowhere", "not a field aggregates can be grouped by"),
    ):
        with pytest.raises(AggregateError, match=message):
            ask(engine, "curves", Question("day", *window, group=group))
    with pytest.raises(AggregateError, match="measures are: value"):
        ask(engine, "curves", Question("day", *window, measure="circuit"))
    assert ask(engine, "curves", Question("day", *window, measure="value")).measure == "value"


def test_several_units_are_not_added(engine, small_k, monkeypatch) -> None:
    """A household's power in kW beside its sub-meters' energy in Wh: a cell may not add them,
    and the refusal does not say which units the rows use."""
    monkeypatch.setitem(CHANNELS, "main", ("power", "kW", "Global_active_power"))
    readings: list[Reading] = []
    for index in range(4):
        key = f"pdl-household-u{index}"
        readings += household(key, 31 * index, hours_from(DAY, 24), ["main", "kitchen"])
    publish_readings(engine, "mixed", readings, small_k)
    window = (DAY, DAY + timedelta(days=1))
    for group in (None, "quality"):
        with pytest.raises(AggregateError, match="several units") as refused:
            ask(engine, "mixed", Question("day", *window, group=group))
        assert "kW" not in str(refused.value) and "Wh" not in str(refused.value)
    by_unit = ask(engine, "mixed", Question("day", *window, group="unit"))
    shown = {c.group: c for c in by_unit.cells if not c.suppressed}
    assert set(shown) == {"kW", "Wh"} and {c.subjects for c in shown.values()} == {4}
    by_circuit = ask(engine, "mixed", Question("day", *window, group="circuit"))
    kitchen = next(c for c in by_circuit.cells if c.group == "kitchen")
    assert kitchen.sum is not None and close(kitchen.sum, shown["Wh"].sum or 0.0)


def test_only_personal_datasets_have_aggregates(engine, small_k) -> None:
    from api.support import air_batch, observation_rows

    publish(air_batch("open-air", "atmo-demo-open", "Open air", observation_rows()), engine=engine)
    with pytest.raises(aggregates.NotAggregated, match="only personal datasets have them"):
        ask(engine, "open-air", Question("day", DAY, DAY + timedelta(days=1)))


# --- generated households and windows --------------------------------------------------------

FIRST = datetime(2026, 11, 30, tzinfo=UTC)  # three days across a month's end
SPAN = 72
RUNS = {"count": 0}


@st.composite
def households(draw: st.DrawFn) -> list[Reading]:
    """Three to ten households: each present for some hours, on its main circuit and maybe a
    sub-meter, some estimated: groups around k = 3, some above, some under."""
    readings: list[Reading] = []
    for index in range(draw(st.integers(3, 10))):
        if draw(st.integers(0, 3)):  # most households stay long, some come and go
            first = draw(st.integers(0, SPAN // 4))
            length = draw(st.integers(SPAN // 3, SPAN - first))
        else:
            first = draw(st.integers(0, SPAN - 1))
            length = draw(st.integers(1, SPAN - first))
        gaps = draw(st.sets(st.integers(first, first + length - 1), max_size=length // 3))
        hours = [FIRST + timedelta(hours=h) for h in range(first, first + length) if h not in gaps]
        others = draw(st.sets(st.sampled_from(sorted(set(CHANNELS) - {"main"})), max_size=1))
        circuits = ["main", *others] if draw(st.integers(0, 4)) else sorted(others or {"kitchen"})
        quality = draw(st.sampled_from(["measured"] * 4 + ["estimated"]))
        per_hour = draw(st.sampled_from([1, 2]))
        offset = draw(st.integers(0, 2879))
        readings += household(f"pdl-gen-{index:02d}", offset, hours, circuits, quality, per_hour)
    return readings


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(readings=households(), windows=st.lists(st.integers(0, SPAN), min_size=4, max_size=4))
def test_no_published_difference_isolates_fewer_than_k_subjects(
    engine: Engine, small_k: str, readings: list[Reading], windows: list[int]
) -> None:
    """For generated households: every cell is the rule's (k subjects or more, else hidden), and
    the attack differences — day minus hours, month minus days, total minus groups, quantity
    minus circuits, unit minus quantity — are all 0; overlapping windows agree."""
    RUNS["count"] += 1
    dataset_id = f"gen-{RUNS['count']}"
    publish_readings(engine, dataset_id, readings, small_k)
    whole = (FIRST, FIRST + timedelta(hours=SPAN))
    months = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    answers: dict[tuple[str, str | None], Answer] = {}
    for by, window in (("hour", whole), ("day", whole), ("month", months)):
        for group in (None, *GROUPABLE):
            answer = ask(engine, dataset_id, Question(by, *window, group=group))
            check_against_oracle(answer, readings)
            answers[(by, group)] = answer
    every = lambda _, __: True  # noqa: E731 - a total holds every group
    for group in (None, *GROUPABLE):
        attacks = [
            residuals(answers[("day", group)], answers[("hour", group)]),
            residuals(answers[("month", group)], answers[("day", group)]),
        ]
        if group is not None:
            for by in ("hour", "day", "month"):
                attacks.append(residuals(answers[(by, None)], answers[(by, group)], every))
        for found in attacks:
            assert all(close(whole, parts) for _, _, whole, parts in found), found
    for by in ("hour", "day", "month"):
        nested = [
            (("quantity", "circuit"), lambda q, c: CHANNELS[c][0] == q),
            (
                ("quantity", "unit"),
                lambda q, u: u in ("Wh", "kWh", "MWh") if q == "energy" else u in ("W", "kW", "MW"),
            ),
        ]
        for (parent, child), member in nested:
            found = residuals(answers[(by, parent)], answers[(by, child)], member)
            assert all(close(whole, parts) for _, _, whole, parts in found), (by, parent, child)
    # two overlapping windows of whole hours publish the same cells where they meet
    a, b, c, d = sorted(windows)
    if a < c and b < d:
        one = ask(
            engine,
            dataset_id,
            Question("hour", FIRST + timedelta(hours=a), FIRST + timedelta(hours=c)),
        )
        two = ask(
            engine,
            dataset_id,
            Question("hour", FIRST + timedelta(hours=b), FIRST + timedelta(hours=d)),
        )
        mine = {(x.bucket, x.group): x for x in one.cells}
        assert all(mine[(x.bucket, x.group)] == x for x in two.cells if (x.bucket, x.group) in mine)
    cells = [cell for answer in answers.values() for cell in answer.cells]
    shown, incomplete = (
        any(not c.suppressed for c in cells),
        any(c.complete is False for c in cells),
    )
    event(f"published cells: {'some' if shown else 'none'}")
    event(f"published cells beside a hidden atom: {'some' if incomplete else 'none'}")
