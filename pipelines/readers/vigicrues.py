"""The `vigicrues-json` reader: Vigicrues's JSON-LD services (vigicrues.gouv.fr/services/1/).

What a document gives depends on the source's schema:

- `hydrometry-station`: a station (`StaEntVigiCru?CdEntVigiCru=E351122001`, with its x/y), or
  the stations under the sections a document lists (`StaEntVigiCru?CdEntVigiCru=1` lists the
  sections of territory 1 with their stations; `TronEntVigiCru` one section and its stations).
- `flood-section`: the territories (`TerEntVigiCru`) or sections (`TronEntVigiCru`, or the
  sections listed by `StaEntVigiCru?CdEntVigiCru=<territory>`) themselves.
- `risk-alert`: a vigilance bulletin (`InfoVigiCru`): one row for the territory's colour, then
  one per section, in the CAP shape (colour 1-4 → severity Minor, Moderate, Severe, Extreme as
  MeteoAlarm does). Not `hydrometry-observation`: a bulletin holds colours, not readings.

Station x/y are in the projection the station declares (`hyd:ProjCoordStationHydro`, Sandre
nomenclature 22); when it declares none they are Lambert-93, Sandre's convention for
metropolitan stations, hence the default `crs: EPSG:2154`. A declared projection that is not
the source's `options.crs` makes that station a row problem: normalisation projects every row
from one CRS. `options.columns` may override any field, over the fields' own names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from hub.batches import Chunk, RowProblem
from hub.geo import GeoError, parse_crs
from pipelines.normalise import load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.json_records import (
    FIRST_ROW,
    Record,
    load_document,
    mapped_chunks,
    parse_mapping,
)
from pipelines.sources import Source

OPTIONS = ("columns",)
DEFAULTS = {"crs": "EPSG:2154", "timezone": "Europe/Paris"}
DOCUMENTS = ("vic:StaEntVigiCru", "vic:TronEntVigiCru", "vic:TerEntVigiCru", "vic:InfoVigiCru")
TERRITORY, STATION, SECTION = "5", "7", "8"  # vic:TypEntVigiCru
# Sandre nomenclature 22 (projection of coordinates) → EPSG, for the codes in use in France.
PROJECTIONS = {
    "5": 27572, "16": 32630, "17": 32631, "18": 32632, "26": 2154, "31": 4326, "52": 4171,
    "60": 25830, "61": 25831, "62": 25832,
    **{str(code): 3942 + code - 43 for code in range(43, 52)},  # RGF93 / CC42 … CC50
}  # fmt: skip
# Vigicrues colour → (French name, CAP severity as MeteoAlarm maps its colours)
LEVELS = {
    "1": ("verte", "Minor"),
    "2": ("jaune", "Moderate"),
    "3": ("orange", "Severe"),
    "4": ("rouge", "Extreme"),
}

Rows = tuple[list[Record], list[int], list[RowProblem]]


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a Vigicrues JSON-LD document into rows of the source's schema."""
    document = load_document(fetched.path)
    kind = document_kind(document)
    target = load_target(source.schema)
    build = BUILDERS.get(target.name)
    if build is None:
        raise ReaderError(
            f"a Vigicrues document gives rows of schema {', '.join(BUILDERS)}, not {target.name!r}"
        )
    crs = str({**DEFAULTS, **source.options}.get("crs"))
    records, rows, problems = build(document, kind, crs)
    mapping = parse_mapping(source.options.get("columns") or {}, target)
    return mapped_chunks(source, records, rows, mapping, target, problems, columns=target.fields)


READER = Reader("vigicrues-json", "records", read, options=OPTIONS, defaults=DEFAULTS)


def document_kind(document: Any) -> str:
    """Which Vigicrues document this is (its entity key), or ReaderError."""
    keys = list(document) if isinstance(document, dict) else []
    for kind in DOCUMENTS:
        if kind in keys:
            return kind
    raise ReaderError(
        f"not a Vigicrues document: none of {', '.join(DOCUMENTS)} at its root "
        f"(it has: {', '.join(keys[:10]) or 'no keys'})"
    )


def entities(node: Any) -> list[dict[str, Any]]:
    """A Vigicrues entity or list of entities as a list of objects."""
    items = node if isinstance(node, list) else [node]
    return [item for item in items if isinstance(item, dict)]


def _text(node: Any, *keys: str) -> str | None:
    """The non-empty text at a path of keys, or None."""
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return str(node) if node not in (None, "") else None


# --- hydrometry-station ------------------------------------------------------------------------


def station_rows(document: dict[str, Any], kind: str, crs: str) -> Rows:
    """Stations: those the document describes, and those under the sections it lists."""
    if kind not in ("vic:StaEntVigiCru", "vic:TronEntVigiCru"):
        raise ReaderError(f"a Vigicrues {kind} document lists no stations")
    records: list[Record] = []
    problems: list[RowProblem] = []
    for entity in entities(document[kind]):
        kind_code = _text(entity, "vic:TypEntVigiCru")
        if kind_code == STATION:
            row = len(records) + FIRST_ROW
            record, note = station_record(entity, crs)
            records.append(record)
            if note:
                problems.append(RowProblem(row, "longitude", note))
        elif kind_code == SECTION:
            for child in entities(entity.get("vic:aNMoinsUn") or []):
                if _text(child, "vic:TypEntVigiCru") == STATION:
                    records.append(child_station(child, entity))
    rows = list(range(FIRST_ROW, FIRST_ROW + len(records)))
    return records, rows, problems


def station_record(entity: dict[str, Any], crs: str) -> tuple[Record, str | None]:
    """A described station (StaEntVigiCru), and a note if its projection is not `crs`."""
    hydro = entity.get("vic:correspondA") or {}
    section = entity.get("vic:aNPlusUn") or {}
    record: Record = {
        "station_id": _text(hydro, "hyd:CdStationHydro") or _text(entity, "vic:CdEntVigiCru"),
        "name": _text(entity, "vic:LbEntVigiCru") or _text(hydro, "hyd:LbStationHydro"),
        "municipality_code": _text(hydro, "hyd:estSitueeSur", "com:CdCommune"),
        "section_id": _text(section, "vic:CdEntVigiCru"),
        "section_name": _text(section, "vic:LbEntVigiCru"),
        "territory_id": _text(section, "vic:aNPlusUn", "vic:CdEntVigiCru"),
        "longitude": _text(hydro, "hyd:CoordXStationHydro"),
        "latitude": _text(hydro, "hyd:CoordYStationHydro"),
    }
    return record, projection_note(_text(hydro, "hyd:ProjCoordStationHydro"), crs)


def projection_note(code: str | None, crs: str) -> str | None:
    """Why a station's declared projection (Sandre code) cannot be read as `crs`, if it cannot."""
    if code is None:
        return None  # none declared: Lambert-93 by Sandre's convention, or what options.crs says
    epsg = PROJECTIONS.get(code.strip())
    if epsg is None:
        return (
            f"the station declares projection {code!r} (Sandre nomenclature 22), which this "
            f"reader cannot translate to an EPSG code; its x/y cannot be read as {crs}"
        )
    try:
        same = parse_crs(epsg).equals(parse_crs(crs), ignore_axis_order=True)
    except GeoError as exc:
        raise ReaderError(f"options.crs: {exc}") from exc
    if same:
        return None
    return (
        f"the station declares its x/y in EPSG:{epsg} (Sandre projection {code}) but the "
        f"source reads coordinates as {crs}: harvest such stations with options.crs EPSG:{epsg}"
    )


def child_station(child: dict[str, Any], section: dict[str, Any]) -> Record:
    """A station listed under a section (no position: the listing gives none)."""
    return {
        "station_id": _text(child, "vic:CdEntVigiCru"),
        "name": _text(child, "vic:LbEntVigiCru"),
        "section_id": _text(section, "vic:CdEntVigiCru"),
        "section_name": _text(section, "vic:LbEntVigiCru"),
        "territory_id": _text(section, "vic:aNPlusUn", "vic:CdEntVigiCru"),
    }


# --- flood-section -----------------------------------------------------------------------------


def section_rows(document: dict[str, Any], kind: str, crs: str) -> Rows:
    """The territories or sections the document lists, one row each."""
    if kind == "vic:InfoVigiCru":
        raise ReaderError("a Vigicrues InfoVigiCru bulletin gives risk-alert rows, not sections")
    records: list[Record] = []
    rows: list[int] = []
    for index, entity in enumerate(entities(document[kind])):
        kind_code = _text(entity, "vic:TypEntVigiCru")
        if kind_code in (TERRITORY, SECTION):
            records.append(section_record(entity, kind_code))
            rows.append(index + FIRST_ROW)
    if not records:
        raise ReaderError(f"this Vigicrues {kind} document lists no territory or section")
    return records, rows, []


def section_record(entity: dict[str, Any], kind_code: str) -> Record:
    """A territory (type 5) or section (type 8) as a flood-section row."""
    children = entities(entity.get("vic:aNMoinsUn") or [])
    stations = [_text(c, "vic:CdEntVigiCru") for c in children]
    section = kind_code == SECTION
    return {
        "entity_id": _text(entity, "vic:CdEntVigiCru"),
        "entity_type": "section" if section else "territory",
        "name": _text(entity, "vic:LbEntVigiCru"),
        "parent_id": _text(entity, "vic:aNPlusUn", "vic:CdEntVigiCru") if section else None,
        "status": _text(entity, "vic:StEntVigiCru"),
        "station_ids": ",".join(s for s in stations if s) or None,
        "bulletin_url": _text(entity, "LinkInfoCru") or _text(entity, "vic:LinkInfoCru"),
    }


# --- risk-alert --------------------------------------------------------------------------------


def alert_rows(document: dict[str, Any], kind: str, crs: str) -> Rows:
    """A bulletin: the territory's vigilance, then each section's, as CAP-shaped rows."""
    if kind != "vic:InfoVigiCru":
        raise ReaderError(f"a Vigicrues {kind} document holds no vigilance bulletin")
    bulletin = document[kind]
    if not isinstance(bulletin, dict):
        raise ReaderError("the InfoVigiCru member of this document is not a bulletin object")
    common = bulletin_fields(document, bulletin)
    parts = [bulletin, *entities(bulletin.get("vic:estLaSyntheseDe") or [])]
    records: list[Record] = []
    problems: list[RowProblem] = []
    for index, part in enumerate(parts):
        record, note = vigilance_record(part, index, common)
        records.append(record)
        if note:
            problems.append(RowProblem(index + FIRST_ROW, "severity", note))
    return records, list(range(FIRST_ROW, FIRST_ROW + len(records))), problems


def bulletin_fields(document: dict[str, Any], bulletin: dict[str, Any]) -> Record:
    """What every row of one bulletin shares."""
    territory = _text(bulletin, "vic:porteSurLEntite", "vic:CdEntVigiCru")
    situation = _text(bulletin, "vic:SituActuInfoVigiCru")
    consequences = _text(bulletin, "vic:ConseqInfoVigiCru")
    description = "\n\n".join(
        text
        for text in (situation, consequences and f"Conséquences possibles : {consequences}")
        if text
    )
    return {
        # A bulletin reference (23012021_16: day and hour) repeats across territories.
        "identifier": f"vigicrues-{territory}-{_text(bulletin, 'vic:RefInfoVigiCru')}",
        "sender": _text(document, "mat:Scenario", "Emetteur", "@id") or "vigicrues.gouv.fr",
        "sent": _text(bulletin, "vic:DtHrInfoVigiCru"),
        "status": "Actual",
        "msgType": "Alert",
        "scope": "Public",
        "language": "fr-FR",
        "category": "Met",  # CAP's Met covers floods
        "urgency": "Future",  # vigilance is about the next 24 hours
        "certainty": "Likely",  # the colour is the forecasters' expected situation
        "effective": _text(bulletin, "vic:DtHrInfoVigiCru"),
        # The bulletin holds until the next one, due at DtHrSuivInfoVigiCru.
        "expires": _text(bulletin, "vic:DtHrSuivInfoVigiCru"),
        "senderName": _text(bulletin, "vic:aEteProduitePar", "vic:LbIntervenant"),
        "description": description or None,
        "instruction": _text(bulletin, "vic:ConsInfoVigiCru"),
    }


def vigilance_record(part: dict[str, Any], index: int, common: Record) -> tuple[Record, str | None]:
    """One territory or section synthesis of a bulletin, and a note if its colour is unknown."""
    entity = part.get("vic:porteSurLEntite") or {}
    code = _text(entity, "vic:CdEntVigiCru")
    area = _text(entity, "vic:LbEntVigiCru") or f"territoire Vigicrues {code}"
    level = _text(part, "vic:NivInfoVigiCru")
    colour, severity = LEVELS.get(level or "", (None, None))
    record: Record = {
        **common,
        "info_index": str(index),
        "event": f"Vigilance crues {colour}" if colour else "Vigilance crues",
        "severity": severity,
        "headline": f"Vigilance {colour} crues : {area}" if colour else None,
        "web": _text(entity, "LinkInfoCru"),
        "area_desc": area,
    }
    note = None if colour else f"vigilance level {level!r} is not one of Vigicrues's 1 to 4"
    return record, note


BUILDERS: dict[str, Callable[[dict[str, Any], str, str], Rows]] = {
    "hydrometry-station": station_rows,
    "flood-section": section_rows,
    "risk-alert": alert_rows,
}
