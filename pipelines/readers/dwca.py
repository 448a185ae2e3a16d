"""The `dwca` reader: Darwin Core Archives (GBIF downloads, IPT exports), driven by meta.xml.

`fetch` extracts the archive; meta.xml says which member is the core data file, how it is
written (fieldsTerminatedBy, fieldsEnclosedBy, encoding, ignoreHeaderLines) and which Darwin
Core term each column holds, or which constant (`default`) a term takes. Terms fill the schema
fields of the same name (the last part of the term's URI: dwc:eventDate → eventDate), and
`options.columns` may map fields differently, by term name, as the `csv` reader does by column,
and `options.encoding` overrides the encoding meta.xml declares for every data file.

An Occurrence core gives one row per occurrence, keyed by its occurrenceID or, where a record
has none, by the core's <id> (a GBIF download's gbifID). An Event core gives one row per
occurrence of its Occurrence extension, joined with its event: the occurrence's own date and
place first, its event's where it has none. Extensions of other row types (verbatim copies,
multimedia) are not read. The EML named by meta.xml is the dataset's `About`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from xml.etree.ElementTree import Element

import polars as pl

from hub import intervals
from hub.batches import About, Chunk, RowProblem
from hub.validation.tables import TableReadError, open_csv
from pipelines.normalise import Target, load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.csv import Rule, map_chunk, parse_columns
from pipelines.readers.eml import children, load_xml, local_name, read_eml
from pipelines.sources import Source

log = logging.getLogger(__name__)

OCCURRENCE = "http://rs.tdwg.org/dwc/terms/Occurrence"
EVENT = "http://rs.tdwg.org/dwc/terms/Event"
ESCAPES = {"\\t": "\t", "\\n": "\n", "\\r": "\r", "\\r\\n": "\r\n", '\\"': '"'}
LINE_ENDS = ("\n", "\r\n", "\r")  # what Python's csv module splits records on
# Terms an occurrence takes from its event as a group, never one by one: a latitude of its
# own with its event's longitude would be a place nobody recorded.
PLACE = ("decimalLatitude", "decimalLongitude", "geodeticDatum", "coordinateUncertaintyInMeters")
DATE = ("eventDate", "year", "month", "day")
DEFAULTS = {"crs": "EPSG:4326"}  # decimalLatitude/Longitude are WGS84 degrees by definition


@dataclass(frozen=True)
class Term:
    """A column (or constant) of a data file: the term's name, its index, its default."""

    name: str  # the term URI's last part: the schema field it fills, if one has that name
    index: int | None
    default: str | None


@dataclass(frozen=True)
class DataFile:
    """A core or extension file as meta.xml describes it."""

    row_type: str
    location: str  # the archive member
    encoding: str
    delimiter: str
    quotechar: str  # "" when fields are not enclosed
    header_lines: int
    key: int | None  # the <id> (core) or <coreid> (extension) column
    terms: tuple[Term, ...]


@dataclass(frozen=True)
class Archive:
    """What meta.xml describes: the core, its extensions, the EML member (if named)."""

    core: DataFile
    extensions: tuple[DataFile, ...]
    metadata: str | None


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read an archive's occurrences (of its Occurrence core, or Event core's extension)."""
    archive = _encoded(describe(fetched), source.options.get("encoding"))
    target = load_target(source.schema)
    rules = parse_columns(source.options.get("columns") or {}, target)
    frames: Iterator[pl.DataFrame]
    if archive.core.row_type == OCCURRENCE:
        frames = (_with_own_id(f) for f in open_terms(fetched, archive.core))
    elif archive.core.row_type == EVENT:
        frames = _event_occurrences(fetched, archive)
    else:
        raise ReaderError(
            f"meta.xml: core rowType {archive.core.row_type!r} holds no occurrences "
            f"(this reader reads an {OCCURRENCE} core, or an {EVENT} core with an "
            "Occurrence extension)"
        )
    return (_mapped(frame, rules, target) for frame in frames)


def about(source: Source, fetched: Fetched) -> About | None:
    """The dataset's EML (meta.xml's `metadata`), or None if the archive holds none."""
    archive = describe(fetched)
    if archive.metadata is None:
        return None
    try:
        path = fetched.member(archive.metadata)
    except ReaderError as exc:
        log.warning("source %s: meta.xml names metadata that is missing: %s", source.id, exc)
        return None
    return read_eml(path, archive.metadata)


READER = Reader(
    "dwca", "records", read, options=("columns", "encoding"), defaults=DEFAULTS, about=about
)


def _encoded(archive: Archive, encoding: str | None) -> Archive:
    """The archive's data files read in `encoding` (options.encoding) instead of meta.xml's.

    Old GBIF and spreadsheet-made archives declare UTF-8 over cp1252 files: the source says so.
    """
    if not encoding:
        return archive
    return replace(
        archive,
        core=replace(archive.core, encoding=encoding),
        extensions=tuple(replace(e, encoding=encoding) for e in archive.extensions),
    )


def describe(fetched: Fetched) -> Archive:
    """The archive's meta.xml, parsed (defusedxml, no DTD) and checked."""
    name = _meta_name(fetched)
    root = load_xml(fetched.member(name), name)
    if local_name(root) != "archive":
        raise ReaderError(f"{name} is not a Darwin Core Archive descriptor (root <archive>)")
    folder = name.rpartition("/")[0]  # member names in meta.xml are relative to it
    core = next(children(root, "core"), None)
    if core is None:
        raise ReaderError(f"{name} describes no <core> data file")
    metadata = root.get("metadata") or ""
    occurrences = (e for e in children(root, "extension") if e.get("rowType") == OCCURRENCE)
    return Archive(
        core=_data_file(core, folder, "id"),
        # Only the extensions this reader reads are checked: a broken multimedia or
        # vernacular-name extension does not keep an archive's occurrences from the hub.
        extensions=tuple(_data_file(e, folder, "coreid") for e in occurrences),
        # A link to metadata elsewhere is not followed: the hub fetches nothing more.
        metadata=_inside(folder, metadata) if metadata and "://" not in metadata else None,
    )


def _inside(folder: str, name: str) -> str:
    """The archive name of a file meta.xml names (relative to meta.xml's folder)."""
    return f"{folder}/{name}" if folder else name


def _meta_name(fetched: Fetched) -> str:
    """The member that is meta.xml (at the root, or in the archive's one top folder)."""
    if not fetched.members:
        raise ReaderError(
            f"{fetched.path.name}: a Darwin Core Archive is read from its extracted members, "
            "and fetch extracted none (is it a zip archive?)"
        )
    found = sorted(
        (name for name in fetched.members if name.lower().rpartition("/")[2] == "meta.xml"
         and not name.startswith("__MACOSX/")),
        key=lambda name: name.count("/"),
    )  # fmt: skip
    if not found:
        held = ", ".join(sorted(fetched.members))
        hint = ""
        if len([n for n in fetched.members if not n.startswith("__MACOSX/")]) <= 2:
            hint = (
                "; a download of one data file (GBIF's simple CSV) is read with format csv, "
                "options.member naming that file and options.columns"
            )
        raise ReaderError(
            f"not a Darwin Core Archive: no meta.xml (the archive holds: {held}){hint}"
        )
    return found[0]


def _data_file(element: Element, folder: str, key_tag: str) -> DataFile:
    """A <core> or <extension> element as a DataFile, its attributes checked."""
    what = f"meta.xml <{local_name(element)} rowType={element.get('rowType', '')!r}>"
    locations = [
        (location.text or "").strip()
        for files in children(element, "files")
        for location in children(files, "location")
    ]
    named = [location for location in locations if location]
    if not named:
        raise ReaderError(f"{what} names no data file (<files><location>)")
    if len(named) > 1:
        # Reading the first alone would drop the others' rows without a word.
        raise ReaderError(
            f"{what} splits its data over {len(named)} files ({', '.join(named)}): this reader "
            "reads a core or extension held in one file"
        )
    delimiter = _character(element, "fieldsTerminatedBy", ",")
    quotechar = _character(element, "fieldsEnclosedBy", '"')
    if len(delimiter) != 1 or len(quotechar) > 1:
        raise ReaderError(f"{what}: fields must be split and enclosed by one character each")
    if _character(element, "linesTerminatedBy", "\n") not in LINE_ENDS:
        raise ReaderError(f"{what}: lines must end with \\n, \\r\\n or \\r")
    key = next(children(element, key_tag), None)
    return DataFile(
        row_type=element.get("rowType", ""),
        location=_inside(folder, named[0]),
        encoding=element.get("encoding") or "UTF-8",
        delimiter=delimiter,
        quotechar=quotechar,
        header_lines=_index(element.get("ignoreHeaderLines", "0"), what, "ignoreHeaderLines"),
        key=None if key is None else _index(key.get("index"), what, f"<{key_tag}> index"),
        terms=_terms(element, what),
    )


def _terms(element: Element, what: str) -> tuple[Term, ...]:
    """The <field>s of a data file, each term once (the first wins, as it is the one read)."""
    terms: dict[str, Term] = {}
    for field in children(element, "field"):
        uri = (field.get("term") or "").strip()
        if not uri:
            raise ReaderError(f"{what}: a <field> has no term")
        name = re.split(r"[/#:]", uri.rstrip("/"))[-1]
        index = field.get("index")
        term = Term(name, None if index is None else _index(index, what, uri), field.get("default"))
        if term.index is not None or term.default is not None:
            terms.setdefault(name, term)
    return tuple(terms.values())


def _character(element: Element, attribute: str, default: str) -> str:
    """A separator attribute, its escapes (`\\t`) turned into the characters they name."""
    raw = element.get(attribute)
    return default if raw is None else ESCAPES.get(raw, raw)


def _index(raw: str | None, what: str, name: str) -> int:
    """A column index or line count: a whole number, or ReaderError."""
    if raw is None or not raw.strip().isdigit():
        raise ReaderError(f"{what}: {name} must be a whole number, not {raw!r}")
    return int(raw)


def open_terms(fetched: Fetched, data: DataFile) -> Iterator[pl.DataFrame]:
    """The data file's chunks as term columns (and `_key`), `_row` counting its records.

    The file is read by the hub's CSV reader, which takes a header row; a file without one
    (ignoreHeaderLines 0, as GBIF writes them) gives its first record back from that header.
    """
    try:
        path = fetched.member(data.location)
    except ReaderError as exc:
        raise ReaderError(f"meta.xml names data file {data.location!r}, but {exc}") from exc
    try:
        table = open_csv(
            path, encoding=data.encoding, delimiter=data.delimiter, quotechar=data.quotechar
        )
    except TableReadError as exc:
        raise ReaderError(f"{data.location}: {exc}") from exc
    width = len(table.columns)
    for index in [t.index for t in data.terms if t.index is not None] + [data.key]:
        if index is not None and index >= width:
            raise ReaderError(
                f"meta.xml reads column {index} of {data.location}, which has {width} columns"
            )
    if data.header_lines == 0 and table.header_row == 1:
        first = {c: [label] for c, label in zip(table.columns, table.header, strict=True)}
        head = pl.DataFrame({**first, "_row": [1], "_error": [None]}, schema_overrides={
            "_row": pl.Int64, "_error": pl.Utf8})  # fmt: skip
        chunks: Iterator[pl.DataFrame] = iter([head, *table.chunks])
    elif table.header_row <= data.header_lines:
        chunks = (c.filter(pl.col("_row") > data.header_lines) for c in table.chunks)
    else:
        raise ReaderError(
            f"{data.location}: its first {table.header_row - 1} records are narrower than the "
            f"rest, yet meta.xml says {data.header_lines} header lines: cannot tell them apart"
        )
    return (_select_terms(chunk, table.columns, data) for chunk in chunks)


def _select_terms(chunk: pl.DataFrame, columns: list[str], data: DataFile) -> pl.DataFrame:
    """A raw chunk's columns named by term, defaults filled in, then `_row` and `_error`."""
    selected = [] if data.key is None else [pl.col(columns[data.key]).alias("_key")]
    for term in data.terms:
        value = pl.col(columns[term.index]) if term.index is not None else pl.lit(None, pl.Utf8)
        if term.default is not None:
            value = pl.when(_blank(value)).then(pl.lit(term.default)).otherwise(value)
        selected.append(value.alias(term.name))
    return chunk.select(*selected, "_row", "_error")


def _blank(value: pl.Expr) -> pl.Expr:
    """Cells that hold nothing: absent, or only spaces."""
    return value.is_null() | (value.str.strip_chars() == "")


def _with_own_id(frame: pl.DataFrame) -> pl.DataFrame:
    """An Occurrence core's rows: its <id> is the occurrenceID where the row gives none.

    A GBIF download keys every record by its gbifID, and records whose publisher wrote no
    occurrenceID (many museum collections) would otherwise have no key at all.
    """
    if "_key" not in frame.columns:
        return frame
    if "occurrenceID" not in frame.columns:
        return frame.with_columns(occurrenceID=pl.col("_key"))
    own = pl.col("occurrenceID")
    return frame.with_columns(
        pl.when(_blank(own)).then(pl.col("_key")).otherwise(own).alias("occurrenceID")
    )


def _mapped(frame: pl.DataFrame, rules: dict[str, Rule], target: Target) -> Chunk:
    """Occurrence rows mapped onto the target fields, with the problems found on the way."""
    problems: list[RowProblem] = []
    if "_problem" in frame.columns:
        flagged = frame.filter(pl.col("_problem").is_not_null())
        problems = [
            RowProblem(row, None, note) for row, note in flagged.select("_row", "_problem").rows()
        ]
        frame = frame.drop("_problem")
    # year, month and day have made eventDate: they are not columns the schema left out
    read = {c for rule in rules.values() for c in rule.sources()}
    consumed = [t for t in DATE[1:] if t not in target.fields and t not in read]
    dated = _with_event_date(frame).drop("_key", *consumed, strict=False)
    chunk = map_chunk(dated, rules, target)
    chunk.problems[:0] = problems
    return chunk


def _with_event_date(frame: pl.DataFrame) -> pl.DataFrame:
    """eventDate as given where it is an ISO 8601 date or interval, else from year/month/day.

    Darwin Core's eventDate is a date or interval at any precision, kept as the publisher
    wrote it (the gate derives its first and last days). Where it is missing, or none of those
    (GBIF's 2013 downloads wrote Java dates: `Tue Apr 01 00:00:00 CET 1930`), the year, month
    and day terms give it at the precision they have: `1930`, `1930-04` or `1930-04-01`.
    """
    if "eventDate" not in frame.columns:
        frame = frame.with_columns(eventDate=pl.lit(None, pl.Utf8))
    given = frame["eventDate"].str.strip_chars()
    readable = intervals.bounds(given)["first"].is_not_null()
    present = [term for term in DATE[1:] if term in frame.columns]
    y, m, d = (
        pl.col(t).str.strip_chars().cast(pl.Int32, strict=False)
        if t in present
        else pl.lit(None, pl.Int32)
        for t in DATE[1:]
    )
    year = pl.when(y.is_between(1, 9999)).then(y.cast(pl.Utf8).str.zfill(4))
    month = pl.when(m.is_between(1, 12)).then(m.cast(pl.Utf8).str.zfill(2))
    day = pl.when(d.is_between(1, 31)).then(d.cast(pl.Utf8).str.zfill(2))
    parts = (
        pl.when(day.is_not_null() & month.is_not_null())
        .then(pl.format("{}-{}-{}", year, month, day))
        .when(month.is_not_null())
        .then(pl.format("{}-{}", year, month))
        .otherwise(year)
    )
    return frame.with_columns(
        pl.when(pl.lit(readable)).then(pl.col("eventDate"))
        .otherwise(pl.coalesce(parts, pl.col("eventDate")))
        .alias("eventDate")
    )  # fmt: skip


def _event_occurrences(fetched: Fetched, archive: Archive) -> Iterator[pl.DataFrame]:
    """The Occurrence extension's rows, each joined with its event from the Event core."""
    occurrences = next((e for e in archive.extensions if e.row_type == OCCURRENCE), None)
    if occurrences is None:
        raise ReaderError(
            "meta.xml: an Event core without an Occurrence extension holds no occurrences"
        )
    if occurrences.key is None:
        raise ReaderError(f"meta.xml: extension {occurrences.location} has no <coreid>")
    events = _events(fetched, archive.core)
    return (_joined(chunk, events, archive.core.location) for chunk in
            open_terms(fetched, occurrences))  # fmt: skip


def _events(fetched: Fetched, core: DataFile) -> pl.DataFrame:
    """The whole Event core, keyed by its <id> (events are few beside their occurrences)."""
    if core.key is None:
        raise ReaderError(f"meta.xml: the Event core {core.location} has no <id>")
    frames = list(open_terms(fetched, core))
    events = pl.concat(frames) if frames else pl.DataFrame(schema={"_key": pl.Utf8})
    repeated = events.filter(pl.col("_key").is_duplicated())["_key"].unique().to_list()
    if repeated:
        raise ReaderError(f"{core.location}: event id(s) {repeated[:3]} appear more than once")
    return events.rename({"_row": "_event_row", "_error": "_event_error"}, strict=False)


def _deciding(term: str) -> tuple[str, ...]:
    """The occurrence's terms whose absence sends it to its event for `term`."""
    if term in PLACE:
        return PLACE[:2]  # no coordinates of its own
    if term in DATE:
        return DATE[:2]  # no date of its own
    return (term,)


def _joined(chunk: pl.DataFrame, events: pl.DataFrame, where: str) -> pl.DataFrame:
    """Occurrences with their event's terms where they have none; orphans get a `_problem`."""
    joined = chunk.join(events, on="_key", how="left", suffix="_event", maintain_order="left")
    own = set(chunk.columns)

    def mine(term: str) -> pl.Expr:
        return pl.col(term) if term in own else pl.lit(None, pl.Utf8)

    def theirs(term: str) -> pl.Expr:
        return pl.col(f"{term}_event" if term in own else term)

    def lacking(term: str) -> pl.Expr:
        return pl.all_horizontal(_blank(mine(t)) for t in _deciding(term))

    terms = [t for t in events.columns if not t.startswith("_")]
    filled = [pl.when(lacking(t)).then(theirs(t)).otherwise(mine(t)).alias(t) for t in terms]
    problem = (
        pl.when(pl.col("_event_row").is_null())
        .then(pl.format(f"its event {{}} is not in {where}", pl.col("_key").fill_null("")))
        .when(pl.col("_event_error").is_not_null())
        .then(pl.format(f"its event, row {{}} of {where}, is malformed", pl.col("_event_row")))
    )
    kept = [c for c in chunk.columns if c not in terms]
    return joined.select(*kept, *filled, problem.alias("_problem"))
