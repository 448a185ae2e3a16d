"""Biodiversity readers: a real GBIF Darwin Core Archive (`dwca`, its EML) and Tela Botanica's
inventory through the generic `csv` reader, into the biodiversity-occurrence schema."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlmodel import Session

from hub import catalogue
from hub.batches import About, Batch, Publisher, RowProblem
from hub.models import Organization
from pipelines.flows import harvest_source
from pipelines.readers import Fetched, ReaderError, read_records, reader_for
from pipelines.readers.eml import read_eml
from pipelines.sources import Operator, Source, load_source

SCHEMA = "biodiversity-occurrence"
GBIF_ZIP = "biodiversity/gbif-results_0000006-130717145108713.zip"
TELA_CSV = "biodiversity/TelaBotanica_MTP_InventBota.csv"
BUNDLED = Path(__file__).parents[2] / "pipelines" / "sources"
GBIF_SOURCE = BUNDLED / "gbif-chelonodon-fluviatilis.yaml"
TELA_SOURCE = BUNDLED / "tela-botanica-montpellier-inventory.yaml"
DWC = "http://rs.tdwg.org/dwc/terms/"


def dwca_source(**options: Any) -> Source:
    return Source(
        id="test-dwca", title="Test", operator=Operator("gbif", "GBIF"), theme="biodiversity",
        format="dwca", url="file:x.zip", schema=SCHEMA, charter="gbif-cc-by", options=options,
    )  # fmt: skip


def extract(archive: Path, folder: Path) -> Fetched:
    """What fetch hands the reader for a zip: its members, extracted (tests only)."""
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder)
        names = [info.filename for info in opened.infolist() if not info.is_dir()]
    return Fetched(archive, members={name: folder / name for name in names})


def make_archive(folder: Path, files: Mapping[str, str]) -> Path:
    """A zip archive of `files` (name → text) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "archive.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    return path


def read_all(source: Source, fetched: Fetched) -> tuple[pl.DataFrame, list[RowProblem]]:
    """Every row the harvest would publish (read, then normalised), and the problems found."""
    chunks = list(read_records(source, fetched))
    return pl.concat(c.frame for c in chunks), [p for c in chunks for p in c.problems]


def about_of(fetched: Fetched) -> About | None:
    """What the dwca reader says the archive declares about its dataset."""
    source = dwca_source()
    reader = reader_for(source)
    assert reader.about is not None
    return reader.about(source, fetched)


def row(frame: pl.DataFrame, number: int) -> dict[str, Any]:
    return frame.filter(pl.col("_row") == number).row(0, named=True)


def stored(engine: Engine, dataset_id: str) -> dict[str, dict[str, Any]]:
    """A dataset's stored records by occurrenceID."""
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, dataset_id))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(layout.table)).mappings()
        return {r["occurrenceID"]: dict(r) for r in rows}


@pytest.fixture
def gbif(samples: Path, tmp_path: Path) -> Fetched:
    return extract(samples / GBIF_ZIP, tmp_path / "gbif")


# --- dwca: the GBIF download (Occurrence core, no header line, tab-separated, no quotes) -----


def test_gbif_download_reads_one_row_per_record_numbered_as_in_the_file(gbif: Fetched) -> None:
    frame, problems = read_all(dwca_source(), gbif)
    # Records end with \n only: two cells hold a U+0085 (NEL), which str.splitlines splits on.
    lines = gbif.member("occurrence.txt").read_text(encoding="utf-8").removesuffix("\n").split("\n")
    assert frame.height == len(lines) == 158 and problems == []
    # No header line: _row n is the file's n-th record, whose first column is the <id>.
    ids = dict(zip(frame["_row"].to_list(), frame["occurrenceID"].to_list(), strict=True))
    assert ids == {n: line.split("\t")[0] for n, line in enumerate(lines, start=1)}
    first = row(frame, 1)
    assert first["occurrenceID"] == "607759330"
    assert first["basisOfRecord"] == "PreservedSpecimen"  # GBIF's PRESERVED_SPECIMEN
    assert first["scientificName"] == "Chelonodon fluviatilis (Hamilton, 1822)"
    assert (first["kingdom"], first["family"], first["genus"]) == (
        "Animalia", "Tetraodontidae", "Tetraodon",
    )  # fmt: skip
    assert (first["institutionCode"], first["catalogNumber"]) == ("CAS", "37109")
    assert first["locality"] == "Port Blair."
    # eventDate "Tue Apr 01 00:00:00 CET 1930" is no ISO date: year/month/day give the day.
    assert first["eventDate"] == "1930-04-01"
    # "Tue Jan 14 00:00:00 CEST 1941": the local day, not shifted by the odd zone.
    assert row(frame, 3)["eventDate"] == "1941-01-14"


def test_gbif_download_coordinates_and_undated_specimens(gbif: Fetched) -> None:
    frame, _ = read_all(dwca_source(), gbif)
    placed = frame.filter(pl.col("decimalLatitude") != "")
    assert placed.height == 56
    borneo = frame.filter(pl.col("occurrenceID") == "484903910").row(0, named=True)
    assert (borneo["decimalLatitude"], borneo["decimalLongitude"]) == ("-1.25", "116.833")
    assert borneo["eventDate"] == "1976-06-26"
    madras = frame.filter(pl.col("occurrenceID") == "189433447").row(0, named=True)
    assert (madras["decimalLatitude"], madras["decimalLongitude"], madras["countryCode"]) == (
        "13.032", "80.251", "IN",
    )  # fmt: skip
    # 114 specimens have no collection day: 99 no date at all, and the others the year (13)
    # or year and month (2) their year/month/day terms give, the precision they were dated at.
    dates = frame["eventDate"]
    assert (dates == "").sum() == 99
    assert sorted(dates.filter(dates.str.len_chars() == 7).to_list()) == ["1934-03", "1980-02"]
    assert dates.filter(dates.str.len_chars() == 4).len() == 13
    assert frame.filter(pl.col("occurrenceID") == "657031516")["eventDate"].item() == "1999"
    assert frame.filter(pl.col("basisOfRecord") == "UNKNOWN").height == 7


def test_dwca_columns_option_maps_fields_by_term_name(gbif: Fetched) -> None:
    source = dwca_source(
        columns={
            "occurrenceID": {"template": "gbif:{occurrenceID}"},
            "basisOfRecord": {"column": "basisOfRecord", "map": {"UNKNOWN": "Occurrence"}},
            "taxonID": {"template": "gbif:{speciesID}"},
        }
    )
    frame, problems = read_all(source, gbif)
    assert problems == []
    first = row(frame, 1)
    assert (first["occurrenceID"], first["taxonID"]) == ("gbif:607759330", "gbif:5213564")
    assert frame["basisOfRecord"].value_counts().sort("basisOfRecord").rows() == [
        ("Occurrence", 7), ("PreservedSpecimen", 151),
    ]  # fmt: skip


def test_gbif_download_rows_pass_the_gate(gbif: Fetched, engine: Engine) -> None:
    source = load_source(GBIF_SOURCE)
    operator = source.operator
    batch = Batch(
        dataset_id=source.id, title=source.title, theme=source.theme, schema=source.schema,
        publisher=Publisher(operator.id, operator.name, operator.kind), charter=source.charter,
        chunks=read_records(source, gbif), max_invalid_share=source.max_invalid_share,
    )  # fmt: skip
    run = catalogue.publish(batch)
    assert (run.status, run.rows_read, run.rows_published, run.rows_quarantined) == (
        "succeeded", 158, 158, 0,
    )  # fmt: skip
    assert_gbif_stored(engine, source.id)


def assert_gbif_stored(engine: Engine, dataset_id: str) -> None:
    """Every specimen of the GBIF sample, dated as precisely as it was, in WGS84."""
    records = stored(engine, dataset_id)
    assert len(records) == 158

    def days(record: dict[str, Any]) -> tuple[Any, Any, Any]:
        return record["eventDate"], record["eventDateStart"], record["eventDateEnd"]

    first = records["607759330"]
    assert days(first) == ("1930-04-01", date(1930, 4, 1), date(1930, 4, 1))
    assert first["decimalLatitude"] is None
    # A year covers the whole year, a month the whole month; an undated specimen is kept.
    assert days(records["657031516"]) == ("1999", date(1999, 1, 1), date(1999, 12, 31))
    assert days(records["666624982"]) == ("1934-03", date(1934, 3, 1), date(1934, 3, 31))
    assert days(records["607707878"]) == (None, None, None)
    borneo = records["484903910"]
    assert borneo["eventDate"] == "1976-06-26"
    assert (borneo["decimalLatitude"], borneo["decimalLongitude"]) == (-1.25, 116.833)
    with Session(engine) as session:
        dataset = catalogue.get(session, dataset_id)
        assert (dataset.time_min, dataset.time_max) == (
            datetime(1826, 1, 1, tzinfo=UTC), datetime(1999, 12, 31, tzinfo=UTC),
        )  # fmt: skip
        # The undated specimens' places too (one at 0,0: GBIF would flag it ZERO_COORDINATE).
        assert dataset.bbox == pytest.approx([0.0, -20.0, 132.5, 25.458])
        assert catalogue.quarantined(session, dataset_id) == []


def test_gbif_source_harvests_end_to_end(engine: Engine) -> None:
    outcome = harvest_source(load_source(GBIF_SOURCE))
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "succeeded", 158, 158, 0,
    )  # fmt: skip
    assert_gbif_stored(engine, "gbif-chelonodon-fluviatilis")
    with Session(engine) as session:  # the source file declares none: the EML's abstract
        description = catalogue.get(session, "gbif-chelonodon-fluviatilis").description
    assert description.startswith("A dataset containing all occurrences available in GBIF")
    assert description.splitlines()[-1] == "51 records from Fishbase"


# --- EML --------------------------------------------------------------------------------------


def test_gbif_download_eml_is_the_datasets_about(gbif: Fetched) -> None:
    about = about_of(gbif)
    assert about is not None and about.title == "GBIF Occurrence Download 0000006-130717145108713"
    lines = about.description.splitlines()
    assert lines[0].startswith("A dataset containing all occurrences available in GBIF")
    assert '"TAXON_KEY","value":"5213564"' in lines[0]
    # GBIF's escaped <br/> are line ends: one line per constituent dataset, 158 records in all.
    counts = [int(m[1]) for m in map(re.compile(r"^(\d+) records from ").match, lines) if m]
    assert (len(counts), sum(counts)) == (23, 158)
    assert lines[-1] == "51 records from Fishbase" and "<br" not in about.description
    assert (about.keywords, about.licence) == ([], "")


def test_constituent_eml_keywords_and_rights_text(gbif: Fetched) -> None:
    name = "dataset/84dbaec2-f762-11e1-a439-00145eb45e9a.xml"
    about = read_eml(gbif.member(name), name)
    assert about.title == "The Fish Collection"
    assert about.description.startswith("Natural History Museum (SNM), Zoological Museum")
    assert len(about.keywords) == 9 and {"DanBIF", "Vertebrata", "Animalia"} <= set(about.keywords)
    assert about.licence == (
        "GBIF Data Sharing Agreement is applied. GBIF Data Use Agreement is applied."
    )


def test_eml_licence_is_the_ulink_of_intellectual_rights(tmp_path: Path) -> None:
    path = tmp_path / "eml.xml"
    path.write_text(
        '<eml:eml xmlns:eml="https://eml.ecoinformatics.org/eml-2.2.0"><dataset>'
        "<title>Inventaire</title><keywordSet><keyword>Flore</keyword>"
        "<keyword>Occurrence</keyword><keyword>Flore</keyword></keywordSet>"
        "<intellectualRights><para>This work is licensed under a <ulink "
        'url="http://creativecommons.org/licenses/by/4.0/legalcode"><citetitle>CC-BY 4.0'
        "</citetitle></ulink>.</para></intellectualRights></dataset></eml:eml>",
        encoding="utf-8",
    )
    about = read_eml(path, "eml.xml")
    assert about.licence == "http://creativecommons.org/licenses/by/4.0/legalcode"
    assert (about.title, about.keywords) == ("Inventaire", ["Flore", "Occurrence"])


# --- dwca: an Event core with an Occurrence extension (synthetic) -----------------------------

EVENT_META = f"""<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="eml.xml">
  <core encoding="UTF-8" fieldsTerminatedBy="," linesTerminatedBy="\\n" fieldsEnclosedBy='"'
        ignoreHeaderLines="1" rowType="{DWC}Event">
    <files><location>event.txt</location></files>
    <id index="0"/>
    <field index="0" term="{DWC}eventID"/>
    <field index="1" term="{DWC}eventDate"/>
    <field index="2" term="{DWC}locality"/>
    <field index="3" term="{DWC}decimalLatitude"/>
    <field index="4" term="{DWC}decimalLongitude"/>
    <field index="5" term="{DWC}countryCode" default="FR"/>
    <field term="{DWC}municipality" default="Montpellier"/>
  </core>
  <extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n"
        fieldsEnclosedBy="" ignoreHeaderLines="1" rowType="{DWC}Occurrence">
    <files><location>occurrence.txt</location></files>
    <coreid index="0"/>
    <field index="1" term="{DWC}occurrenceID"/>
    <field index="2" term="{DWC}scientificName"/>
    <field index="3" term="{DWC}individualCount"/>
    <field index="4" term="{DWC}decimalLatitude"/>
    <field index="5" term="{DWC}decimalLongitude"/>
    <field index="6" term="{DWC}locality"/>
    <field term="{DWC}basisOfRecord" default="HumanObservation"/>
  </extension>
  <extension rowType="http://rs.gbif.org/terms/1.0/Multimedia">
    <files><location>multimedia.txt</location></files>
    <coreid index="0"/>
  </extension>
</archive>
"""
EVENTS = (
    "eventID,eventDate,locality,decimalLatitude,decimalLongitude,countryCode\n"
    'E1,2021-05-04T09:30:00+02:00,"Parc de Lunaret, zoo",43.6381,3.8712,\n'
    "E2,2021-06-01/2021-06-03,Bois de Montmaur,43.6395,3.8820,FR\n"
)
OCCURRENCES = (
    "\n".join(
        "\t".join(cells)
        for cells in [
            ("coreid", "occurrenceID", "scientificName", "count", "lat", "lon", "locality"),
            ("E1", "urn:test:1", "Quercus ilex L.", "3", "", "", ""),
            (
                "E1",
                "urn:test:2",
                "Erinaceus europaeus Linnaeus, 1758",
                "1",
                "43.6402",
                "3.8690",
                "",
            ),
            ("E2", "urn:test:3", "Pinus halepensis Mill.", "12", "", "", "Lisière nord"),
            ("E9", "urn:test:4", "Bufo spinosus Daudin, 1803", "1", "", "", ""),
            ("E2", "urn:test:5", "Ruscus aculeatus L.", "", "43.64", "", ""),
        ]
    )
    + "\n"
)


def test_event_core_gives_each_occurrence_joined_with_its_event(tmp_path: Path) -> None:
    files = {"meta.xml": EVENT_META, "event.txt": EVENTS, "occurrence.txt": OCCURRENCES}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    frame, problems = read_all(dwca_source(), fetched)
    assert frame["_row"].to_list() == [2, 3, 4, 5, 6]  # the occurrence file's rows
    columns = ["occurrenceID", "eventDate", "locality", "decimalLatitude", "decimalLongitude"]
    assert frame.select(columns).rows() == [
        # the event's date (as given), place and coordinates
        ("urn:test:1", "2021-05-04T09:30:00+02:00", "Parc de Lunaret, zoo", "43.6381", "3.8712"),
        # its own coordinates, never mixed with its event's
        ("urn:test:2", "2021-05-04T09:30:00+02:00", "Parc de Lunaret, zoo", "43.6402", "3.869"),
        # its own locality; the event's interval, whole
        ("urn:test:3", "2021-06-01/2021-06-03", "Lisière nord", "43.6395", "3.882"),
        ("urn:test:4", "", "", "", ""),
        ("urn:test:5", "2021-06-01/2021-06-03", "Bois de Montmaur", "43.64", ""),
    ]
    first = row(frame, 2)
    # defaults: countryCode where the event's cell is empty, municipality as a constant
    assert (first["countryCode"], first["municipality"]) == ("FR", "Montpellier")
    assert (first["basisOfRecord"], first["individualCount"]) == ("HumanObservation", "3")
    notes = {(p.row, p.field): p.note for p in problems}
    assert notes[(5, None)] == "its event E9 is not in event.txt"
    assert notes[(6, "decimalLongitude")] == (
        "only one of decimalLongitude and decimalLatitude is given"
    )
    assert {p.row for p in problems} == {5, 6}


def test_event_core_without_occurrences_is_refused(tmp_path: Path) -> None:
    meta = EVENT_META.replace(f'rowType="{DWC}Occurrence"', f'rowType="{DWC}MeasurementOrFact"')
    files = {"meta.xml": meta, "event.txt": EVENTS, "occurrence.txt": OCCURRENCES}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    with pytest.raises(ReaderError, match="Event core without an Occurrence extension"):
        read_records(dwca_source(), fetched)


# --- dwca: other publishers' archives (excerpts of real files) --------------------------------

# A 2020s GBIF download (meta.xml, occurrence.txt of github.com/ChristianCouch1/Brids-project-for-4:
# a museum's bird specimens), cut to the columns read here: its publisher writes no occurrenceID,
# so each record is keyed by the core's <id>, its gbifID. The verbatim copy (an Occurrence
# extension) and the multimedia extension are not read.
GBIF_2020_META = f"""<archive xmlns="http://rs.tdwg.org/dwc/text/" metadata="metadata.xml">
  <core encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
        ignoreHeaderLines="1" rowType="{DWC}Occurrence">
    <files><location>occurrence.txt</location></files>
    <id index="0" />
    <field index="0" term="http://rs.gbif.org/terms/1.0/gbifID"/>
    <field index="1" term="{DWC}occurrenceID"/>
    <field index="2" term="{DWC}basisOfRecord"/>
    <field index="3" term="{DWC}catalogNumber"/>
    <field index="4" term="{DWC}eventDate"/>
    <field index="5" term="{DWC}decimalLatitude"/>
    <field index="6" term="{DWC}decimalLongitude"/>
    <field index="7" term="{DWC}scientificName"/>
  </core>
  <extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
             ignoreHeaderLines="1" rowType="http://rs.gbif.org/terms/1.0/Multimedia">
    <files><location>multimedia.txt</location></files>
    <coreid index="0" />
    <field index="1" term="http://purl.org/dc/terms/type"/>
  </extension>
  <extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" fieldsEnclosedBy=""
             ignoreHeaderLines="1" rowType="{DWC}Occurrence">
    <files><location>verbatim.txt</location></files>
    <coreid index="0" />
    <field index="1" term="{DWC}catalogNumber"/>
  </extension>
</archive>"""
GBIF_2020_OCCURRENCES = (
    "gbifID\toccurrenceID\tbasisOfRecord\tcatalogNumber\teventDate\tdecimalLatitude\t"
    "decimalLongitude\tscientificName\n"
    "620997295\t\tPRESERVED_SPECIMEN\t3236\t2001-09-14T00:00:00\t40.51417\t-88.99056\t"
    "Vireo olivaceus (Linnaeus, 1766)\n"
    "620997294\t\tPRESERVED_SPECIMEN\t3235\t2001-09-20T00:00:00\t40.51417\t-88.99056\t"
    "Passer domesticus (Linnaeus, 1758)\n"
)


def test_records_without_an_occurrence_id_are_keyed_by_the_core_id(tmp_path: Path) -> None:
    files = {"meta.xml": GBIF_2020_META, "occurrence.txt": GBIF_2020_OCCURRENCES}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    frame, problems = read_all(dwca_source(), fetched)
    assert problems == []
    columns = ["occurrenceID", "basisOfRecord", "catalogNumber", "eventDate", "decimalLatitude"]
    assert frame.select(columns).rows() == [
        ("620997295", "PreservedSpecimen", "3236", "2001-09-14T00:00:00", "40.51417"),
        ("620997294", "PreservedSpecimen", "3235", "2001-09-20T00:00:00", "40.51417"),
    ]
    # A record that has its own occurrenceID keeps it.
    own = GBIF_2020_OCCURRENCES.replace("620997294\t\t", "620997294\turn:catalog:ISU:3235\t")
    files["occurrence.txt"] = own
    fetched = extract(make_archive(tmp_path / "own", files), tmp_path / "own-members")
    frame, _ = read_all(dwca_source(), fetched)
    assert frame["occurrenceID"].to_list() == ["620997295", "urn:catalog:ISU:3235"]


def test_options_encoding_overrides_the_encoding_meta_xml_declares(tmp_path: Path) -> None:
    folder = tmp_path / "members"
    folder.mkdir()
    (folder / "meta.xml").write_text(GBIF_2020_META, encoding="utf-8")
    text = GBIF_2020_OCCURRENCES.replace("Vireo olivaceus", "Vireo olivacé")
    (folder / "occurrence.txt").write_bytes(text.encode("cp1252"))  # meta.xml says UTF-8
    fetched = Fetched(tmp_path / "a.zip", {n: folder / n for n in ("meta.xml", "occurrence.txt")})
    with pytest.raises(ReaderError, match=r"options: \{encoding: cp1252\}"):
        read_all(dwca_source(), fetched)
    frame, problems = read_all(dwca_source(encoding="cp1252"), fetched)
    assert problems == [] and frame["scientificName"][0] == "Vireo olivacé (Linnaeus, 1766)"


def test_extensions_the_reader_does_not_read_are_not_checked(tmp_path: Path) -> None:
    # The VernacularName extension of gbif/dwca-io src/test/resources/nullCoreID/meta.xml,
    # whose <coreid/> has no index, beside an occurrence core.
    extension = (
        '<extension encoding="UTF-8" fieldsTerminatedBy="\\t" linesTerminatedBy="\\n" '
        "fieldsEnclosedBy='' ignoreHeaderLines=\"0\" "
        'rowType="http://rs.gbif.org/terms/1.0/VernacularName">'
        "<files><location>VernacularName.txt</location></files><coreid/>"
        f'<field index="0" term="{DWC}taxonID"/></extension>'
    )
    meta = GBIF_2020_META.replace("</archive>", extension + "</archive>")
    files = {"meta.xml": meta, "occurrence.txt": GBIF_2020_OCCURRENCES}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    frame, _ = read_all(dwca_source(), fetched)
    assert frame.height == 2


def test_a_core_split_over_several_files_is_refused_not_read_in_part(tmp_path: Path) -> None:
    # The <files> of gbif/dwca-io src/test/resources/multifile-psv/meta.xml (three files).
    split = "<location>taxa1.txt</location><location>taxa2.txt</location>"
    meta = GBIF_2020_META.replace(
        "<location>occurrence.txt</location>", split + "<location>taxa3.txt</location>", 1
    )
    files = {"meta.xml": meta, "taxa1.txt": GBIF_2020_OCCURRENCES, "taxa2.txt": "", "taxa3.txt": ""}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    with pytest.raises(ReaderError, match=r"splits its data over 3 files \(taxa1\.txt, taxa2"):
        read_records(dwca_source(), fetched)


def test_a_gbif_eml_with_spaces_before_its_xml_declaration_is_read(tmp_path: Path) -> None:
    # The first lines of metadata.xml in python-dwca-reader's
    # dwca/test/sample_files/gbif-results-whitespace-in-xml.zip (GBIF download
    # 0250339-220831081235567), its dataset closed after the title.
    eml = tmp_path / "metadata.xml"
    eml.write_text(
        '    <?xml version="1.0" encoding="utf-8"?>\n'
        '    <eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"'
        ' packageId="10.15468/dl.qmec2c" system="http://gbif.org" scope="system" xml:lang="en">\n'
        "\n    <dataset>\n"
        "                <alternateIdentifier>0250339-220831081235567</alternateIdentifier>\n"
        "        <title>GBIF Occurrence Download 10.15468/dl.qmec2c</title>\n"
        "    </dataset></eml:eml>\n",
        encoding="utf-8",
    )
    assert read_eml(eml, "metadata.xml").title == "GBIF Occurrence Download 10.15468/dl.qmec2c"
    document = '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"><dataset><title>x'
    eml.write_text("  " + hostile(document + "</title></dataset></eml:eml>", "xxe"))
    with pytest.raises(ReaderError, match="inline DTD"):
        read_eml(eml, "metadata.xml")


def test_a_one_file_download_is_pointed_to_the_csv_reader(tmp_path: Path) -> None:
    # GBIF's simple CSV download (python-dwca-reader dwca/test/sample_files/dwca-simple-csv.zip):
    # one tab-separated file with a header line, and no meta.xml.
    data = '"gbifid"\t"datasetkey"\t"occurrenceid"\n699220990\t"80f63c1e"\t\n'
    files = {"0008333-160118175350007.csv": data}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    with pytest.raises(ReaderError, match=r"no meta\.xml .* read with format csv, options\.member"):
        read_records(dwca_source(), fetched)


# --- dwca: bad archives -----------------------------------------------------------------------

XXE = '<!DOCTYPE {root} [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
EXTERNAL_DTD = '<!DOCTYPE {root} SYSTEM "http://127.0.0.1:9/evil.dtd">'
LAUGHS = (
    '<!DOCTYPE {root} [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";" if i > 1 else "&lol;") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
HOSTILE = {"xxe": (XXE, "&x;"), "external-dtd": (EXTERNAL_DTD, ""), "laughs": (LAUGHS, "&lol9;")}


def hostile(document: str, kind: str) -> str:
    """`document` (meta.xml or an EML) with a hostile DTD, its entity used in the first text."""
    prologue, entity = HOSTILE[kind]
    root = document.lstrip().split()[0].lstrip("<")
    body = document.replace("<files><location>", f"<files><location>{entity}", 1)
    body = body.replace("<title>", f"<title>{entity}", 1)
    return prologue.format(root=root) + body


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_meta_xml_is_refused(kind: str, tmp_path: Path) -> None:
    files = {"meta.xml": hostile(EVENT_META, kind), "event.txt": EVENTS}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    with pytest.raises(ReaderError, match=r"meta\.xml is refused: .*DTD") as refused:
        read_records(dwca_source(), fetched)
    assert "root:" not in str(refused.value)  # nothing of /etc/passwd leaks into the message


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_eml_is_refused(kind: str, gbif: Fetched) -> None:
    eml = gbif.member("metadata.xml")
    eml.write_text(hostile(eml.read_text(encoding="utf-8"), kind), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"metadata\.xml is refused: .*DTD"):
        about_of(gbif)


def test_a_core_file_missing_from_the_archive_is_named(gbif: Fetched, tmp_path: Path) -> None:
    meta = gbif.member("meta.xml")
    meta.write_text(
        meta.read_text(encoding="utf-8").replace("occurrence.txt", "occurrences.csv"),
        encoding="utf-8",
    )
    with pytest.raises(ReaderError, match=r"data file 'occurrences\.csv', but the archive has"):
        read_records(dwca_source(), gbif)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('index="63"', 'index="64"'), r"reads column 64 of occurrence\.txt, which has 64"),
        (('fieldsTerminatedBy="\\t"', 'fieldsTerminatedBy="::"'), "one character each"),
        ((f"{DWC}Occurrence", f"{DWC}Taxon"), "core rowType .*Taxon' holds no occurrences"),
        (("core", "corps"), "describes no <core> data file"),
        (('<id index="0" />', '<id index="first" />'), "index must be a whole number"),
    ],
)
def test_a_broken_meta_xml_is_a_clear_error(
    change: tuple[str, str], message: str, gbif: Fetched
) -> None:
    meta = gbif.member("meta.xml")
    text = meta.read_text(encoding="utf-8")
    assert change[0] in text
    meta.write_text(text.replace(change[0], change[1]), encoding="utf-8")
    with pytest.raises(ReaderError, match=message):
        read_records(dwca_source(), gbif)


def test_an_archive_fetch_did_not_extract_is_a_clear_error(samples: Path) -> None:
    with pytest.raises(ReaderError, match="fetch extracted none"):
        read_records(dwca_source(), Fetched(samples / GBIF_ZIP))


def test_an_archive_without_meta_xml_is_not_a_dwca(tmp_path: Path) -> None:
    fetched = extract(make_archive(tmp_path / "src", {"data.csv": "a,b\n1,2\n"}), tmp_path / "m")
    with pytest.raises(ReaderError, match=r"no meta\.xml \(the archive holds: data\.csv\)"):
        read_records(dwca_source(), fetched)


@pytest.mark.parametrize("document", ["meta.xml", "eml.xml"])
def test_a_hostile_archive_publishes_nothing(document: str, tmp_path: Path, engine: Engine) -> None:
    files = {"meta.xml": EVENT_META, "event.txt": EVENTS, "occurrence.txt": OCCURRENCES}
    files["eml.xml"] = '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"><dataset>' + (
        "<title>Inventaire</title></dataset></eml:eml>"
    )
    files[document] = hostile(files[document], "xxe")
    archive = make_archive(tmp_path / "feed", files)
    text = GBIF_SOURCE.read_text(encoding="utf-8")
    url = next(line for line in text.splitlines() if line.startswith("url:"))
    (tmp_path / "feed" / "gbif.yaml").write_text(text.replace(url, f"url: {archive.as_uri()}"))
    source = load_source(tmp_path / "feed" / "gbif.yaml")  # a feed beside its source file
    outcome = harvest_source(source)
    assert (outcome.status, outcome.published) == ("failed", 0)
    assert f"{document} is refused: it declares an inline DTD" in outcome.message
    with Session(engine) as session, pytest.raises(catalogue.NotFound):
        catalogue.get(session, source.id)


# --- Tela Botanica: the generic csv reader, mapped by its source file alone -------------------


def test_tela_botanica_inventory_maps_onto_darwin_core(samples: Path) -> None:
    source = load_source(TELA_SOURCE)
    frame, problems = read_all(source, Fetched(samples / TELA_CSV))
    assert frame.height == 4496 and frame["_row"].to_list() == list(range(2, 4498))
    first = row(frame, 2)
    assert (first["scientificName"], first["family"]) == ("Allium ursinum", "Amaryllidaceae")
    assert (first["basisOfRecord"], first["countryCode"], first["municipality"]) == (
        "HumanObservation", "FR", "Montpellier",
    )  # fmt: skip
    # cp1252 and decimal commas: "43,61528" / "3,87174"
    assert (first["decimalLatitude"], first["decimalLongitude"]) == ("43.61528", "3.87174")
    assert (first["geodeticDatum"], first["locality"]) == ("WGS84", "Jardin botanique")
    assert frame.filter(pl.col("locality") == "Université Montpellier II").height == 256
    assert frame.filter(pl.col("decimalLatitude") == "").height == 1277
    assert first["license"] == "https://creativecommons.org/licenses/by-sa/3.0/"
    # Three rows give longitude 3165 (a lost decimal comma): reported, kept for quarantine.
    outside = [p for p in problems if p.field == "decimalLongitude"]
    assert [p.row for p in outside] == [4103, 4104, 4105]
    assert "x=3165, y=43.06583 lie outside the area of use of EPSG:4326" in outside[0].note


def test_tela_botanica_source_harvests_end_to_end(engine: Engine) -> None:
    source = load_source(TELA_SOURCE)
    outcome = harvest_source(source)
    assert (outcome.status, outcome.read, outcome.published, outcome.quarantined) == (
        "partial", 4496, 4493, 3,
    )  # fmt: skip
    records = stored(engine, source.id)
    first = records["tela-botanica-mtp-2"]
    assert (first["eventDate"], first["eventDateStart"]) == ("2007-04-18", date(2007, 4, 18))
    assert (first["decimalLatitude"], first["decimalLongitude"]) == (43.61528, 3.87174)
    assert sum(1 for r in records.values() if r["decimalLatitude"] is not None) == 3216
    with Session(engine) as session:
        dataset = catalogue.get(session, source.id)
        assert (dataset.time_min, dataset.time_max) == (
            datetime(2007, 4, 9, tzinfo=UTC), datetime(2014, 4, 10, tzinfo=UTC),
        )  # fmt: skip
        assert sorted(r.row_number for r in catalogue.quarantined(session, source.id)) == [
            4103, 4104, 4105,
        ]  # fmt: skip


def test_an_archive_s_eml_credits_and_its_operator_s_contact_reach_the_dataset(
    tmp_path: Path, engine: Engine
) -> None:
    files = {"meta.xml": EVENT_META, "event.txt": EVENTS, "occurrence.txt": OCCURRENCES}
    files["eml.xml"] = (
        '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"><dataset><title>Inventaire'
        "</title><creator><individualName><givenName>Claire</givenName><surName>Martin</surName>"
        "</individualName></creator><contact><individualName><surName>Martin</surName>"
        "</individualName><electronicMailAddress>claire@onem.example</electronicMailAddress>"
        "</contact></dataset><additionalMetadata><metadata><gbif>"
        '<citation identifier="https://doi.org/10.15468/abcd12">ONEM (2024). Inventaire.'
        "</citation></gbif></metadata></additionalMetadata></eml:eml>"
    )
    archive = make_archive(tmp_path / "feed", files)
    text = GBIF_SOURCE.read_text(encoding="utf-8")
    url = next(line for line in text.splitlines() if line.startswith("url:"))
    operator = next(line for line in text.splitlines() if line.startswith("operator:"))
    declared = operator.rstrip("}") + ", email: info@gbif.example, website: https://gbif.example}"
    text = text.replace(url, f"url: {archive.as_uri()}").replace(operator, declared)
    (tmp_path / "feed" / "gbif.yaml").write_text(text)
    source = load_source(tmp_path / "feed" / "gbif.yaml")
    outcome = harvest_source(source)
    assert outcome.status in ("succeeded", "partial"), outcome.message
    with Session(engine) as session:
        dataset = catalogue.get(session, source.id)
        assert dataset.credits == {
            "creator": "Claire Martin",
            "contact_name": "Martin",
            "contact_email": "claire@onem.example",
            "citation": "ONEM (2024). Inventaire.",
            "doi": "10.15468/abcd12",
        }
        organization = session.get(Organization, dataset.organization_id)
        assert organization is not None
        assert (organization.email, organization.website) == (
            "info@gbif.example",
            "https://gbif.example",
        )
