"""Occurrences dated at any precision (Darwin Core eventDate: a year, a month, an interval):
published as given, found by every `from`/`to` window they overlap, in the dataset's extent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from rdflib import Graph, Literal
from rdflib.namespace import DCAT, DCTERMS, XSD
from sqlmodel import Session

from hub import catalogue
from hub.batches import Batch, Publisher
from pipelines.readers import Fetched, read_records
from pipelines.sources import Operator, Source

DWC = "http://rs.tdwg.org/dwc/terms/"
TERMS = ["occurrenceID", "basisOfRecord", "scientificName", "eventDate", "year"]
META = f"""<archive xmlns="http://rs.tdwg.org/dwc/text/">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="{DWC}Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0"/>
    {"".join(f'<field index="{i}" term="{DWC}{t}"/>' for i, t in enumerate(TERMS))}
  </core>
</archive>
"""
# An IPT export's rows, one per way a naturalist dates an occurrence.
ROWS = [
    ("onem-001", "HumanObservation", "Quercus ilex L.", "2019-05", ""),
    ("onem-002", "HumanObservation", "Bubo bubo (L.)", "2019-05-01/2019-05-03", ""),
    ("onem-003", "HumanObservation", "Emys orbicularis (L.)", "2019-05-01/03", ""),
    ("onem-004", "HumanObservation", "Pinus halepensis Mill.", "2019-05/2019-06", ""),
    ("onem-005", "PreservedSpecimen", "Quercus coccifera L.", "", "2018"),
    ("onem-006", "PreservedSpecimen", "Quercus pubescens Willd.", "", ""),
    ("onem-007", "HumanObservation", "Ruscus aculeatus L.", "2019-06-14T23:30:00+02:00", ""),
    ("onem-008", "HumanObservation", "Erinaceus europaeus L.", "2019-02-30", ""),
]


@pytest.fixture
def inventory(engine, tmp_path: Path) -> str:
    """The inventory published through the gate, as `hub harvest` would (its members
    extracted, as fetch leaves them)."""
    text = "\n".join("\t".join(cells) for cells in [tuple(TERMS), *ROWS]) + "\n"
    members = {"meta.xml": META, "occurrence.txt": text}
    for name, content in members.items():
        (tmp_path / name).write_text(content, encoding="utf-8")
    fetched = Fetched(tmp_path / "inventory.zip", {n: tmp_path / n for n in members})
    source = Source(
        id="onem-inventaire", title="Inventaire ONEM", operator=Operator("gbif", "GBIF"),
        theme="biodiversity", format="dwca", url="file:x.zip",
        schema="biodiversity-occurrence", charter="gbif-cc-by", options={},
    )  # fmt: skip
    batch = Batch(
        dataset_id=source.id, title=source.title, theme=source.theme, schema=source.schema,
        publisher=Publisher("gbif", "GBIF", "public"), charter=source.charter,
        chunks=read_records(source, fetched), max_invalid_share=0.5,
    )  # fmt: skip
    run = catalogue.publish(batch)
    assert (run.rows_published, run.rows_quarantined) == (7, 1)
    return source.id


def test_every_precision_is_published_as_given_with_its_days(client, inventory):
    records = client.get(f"/api/v1/datasets/{inventory}/records?limit=100").json()["records"]
    found = {
        r["occurrenceID"]: (r["eventDate"], r["eventDateStart"], r["eventDateEnd"]) for r in records
    }
    assert found == {
        "onem-001": ("2019-05", "2019-05-01", "2019-05-31"),
        "onem-002": ("2019-05-01/2019-05-03", "2019-05-01", "2019-05-03"),
        "onem-003": ("2019-05-01/03", "2019-05-01", "2019-05-03"),
        "onem-004": ("2019-05/2019-06", "2019-05-01", "2019-06-30"),
        "onem-005": ("2018", "2018-01-01", "2018-12-31"),  # from its year term
        "onem-006": (None, None, None),  # an undated specimen is kept
        "onem-007": ("2019-06-14T23:30:00+02:00", "2019-06-14", "2019-06-14"),  # its local day
    }
    (row,) = client.get(f"/api/v1/datasets/{inventory}/quarantine").json()["rows"]
    assert row["cells"]["occurrenceID"] == "onem-008"
    assert "'2019-02-30' is not an ISO 8601 date or interval" in str(row["errors"])


@pytest.mark.parametrize(
    "window, ids",
    [
        # days 2 to 3 of May: the month, both ranges and the two months overlap them
        ("from=2019-05-02&to=2019-05-04", ["onem-001", "onem-002", "onem-003", "onem-004"]),
        # after the ranges' last day: only what covers the rest of May
        ("from=2019-05-04&to=2019-05-05", ["onem-001", "onem-004"]),
        ("from=2018-06-01&to=2018-06-02", ["onem-005"]),
        ("from=2019-06-14&to=2019-06-15", ["onem-004", "onem-007"]),
    ],
)
def test_from_and_to_find_the_periods_they_overlap(client, inventory, window, ids):
    url = f"/api/v1/datasets/{inventory}/records?{window}&limit=100"
    records = client.get(url).json()["records"]
    assert sorted(r["occurrenceID"] for r in records) == ids


def test_the_time_extent_and_dcat_end_at_the_last_day(client, engine, inventory):
    with Session(engine) as session:
        dataset = catalogue.get(session, inventory)
    assert (dataset.time_min, dataset.time_max) == (
        datetime(2018, 1, 1, tzinfo=UTC), datetime(2019, 6, 30, tzinfo=UTC),
    )  # fmt: skip
    answer = client.get(f"/api/v1/datasets/{inventory}/dcat.ttl")
    graph = Graph().parse(data=answer.content, format="turtle")
    ((_, _, period),) = graph.triples((None, DCTERMS.temporal, None))
    assert graph.value(period, DCAT.endDate) == Literal(
        "2019-06-30T00:00:00Z", datatype=XSD.dateTime
    )
