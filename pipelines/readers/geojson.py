"""The `geojson` reader: a FeatureCollection, feature by feature, mapped onto the target schema.

Each feature gives one row (`_row` = its index + 2). `options.columns` maps fields as the json
reader does (`pipelines.readers.json_records`: the csv rules plus `epoch`) over the feature's
properties, by name, and these values of the feature itself:

    longitude: {coordinate: lon}      # a Point's x (lon), y (lat) or third number (z)
    area: {feature: geometry}         # the whole geometry, as GeoJSON text
    event_id: {feature: id}           # the feature's `id` member

Templates name them `{@lon}`, `{@lat}`, `{@z}`, `{@geometry}` and `{@id}`.

Coordinates stay as the file writes them: normalisation projects them to WGS84 from
`options.crs` (default EPSG:4326, the only CRS of RFC 7946). A file whose `crs` member (the
2008 GeoJSON draft) names another CRS is refused unless the source's `options.crs` says the
same: the reader does not reproject, and normalisation must know which CRS to use.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyproj import CRS

from hub.batches import Chunk, RowProblem
from hub.geo import GeoError, parse_crs
from pipelines.normalise import Target, load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.json_records import (
    FIRST_ROW,
    RULE_KEYS,
    ColumnRules,
    Record,
    cell,
    flatten,
    load_document,
    mapped_chunks,
    parse_mapping,
)
from pipelines.sources import Source

OPTIONS = ("columns",)
COORDINATES = {"lon": "@lon", "lat": "@lat", "z": "@z"}
FEATURE_MEMBERS = {"id": "@id", "geometry": "@geometry"}
GEOJSON_RULE_KEYS = (*RULE_KEYS, "coordinate", "feature")  # a `columns` entry's keys here
GEOMETRY_COLUMNS = ("@lon", "@lat", "@z", "@geometry")
WGS84 = "EPSG:4326"


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a GeoJSON FeatureCollection, one row per feature."""
    collection = feature_collection(load_document(fetched.path))
    check_declared_crs(collection, str(source.options.get("crs") or WGS84))
    target = load_target(source.schema)
    columns = _plain_columns(source.options.get("columns") or {})
    mapping = parse_mapping(columns, target, GEOJSON_RULE_KEYS)
    needs = _geometry_needs(mapping, target)
    records: list[Record] = []
    problems: list[RowProblem] = []
    for index, feature in enumerate(collection["features"]):
        record, notes = feature_record(feature)
        row = index + FIRST_ROW
        records.append(record)
        for field, column in needs.items():
            note = notes.get(column)
            if note:
                problems.append(RowProblem(row, field, f"{note}; field {field!r} needs it"))
        if "" in notes:
            problems.append(RowProblem(row, None, notes[""]))
    rows = range(FIRST_ROW, FIRST_ROW + len(records))
    return mapped_chunks(
        source, records, rows, mapping, target, problems, columns=GEOMETRY_COLUMNS + ("@id",)
    )


READER = Reader("geojson", "records", read, options=OPTIONS)


def feature_collection(document: Any) -> dict[str, Any]:
    """The document if it is a FeatureCollection with a list of features, or ReaderError."""
    kind = document.get("type") if isinstance(document, dict) else None
    if kind != "FeatureCollection":
        what = f"its type is {kind!r}" if kind else "it has no GeoJSON type"
        raise ReaderError(
            f"not a GeoJSON FeatureCollection: {what} (this reader takes a FeatureCollection "
            "whose features each give a row)"
        )
    if not isinstance(document.get("features"), list):
        raise ReaderError("a GeoJSON FeatureCollection needs a list of features")
    return document


def check_declared_crs(collection: dict[str, Any], crs: str) -> None:
    """Refuse a `crs` member that pyproj does not know or that differs from options.crs."""
    member = collection.get("crs")
    if member is None:
        return
    declared = _crs_name(member)
    try:
        same = parse_crs(declared).equals(_crs(crs), ignore_axis_order=True)
    except GeoError as exc:
        raise ReaderError(f"the file's crs member: {exc}") from exc
    if not same:
        raise ReaderError(
            f"the file declares its coordinates in {declared} (its crs member) but the source "
            f"reads them as {crs}: set options.crs to {declared!r}"
        )


def _crs(name: str) -> CRS:
    """options.crs as a pyproj CRS, or ReaderError."""
    try:
        return parse_crs(name)
    except GeoError as exc:
        raise ReaderError(f"options.crs: {exc}") from exc


def _crs_name(member: Any) -> str:
    """The CRS a 2008-draft crs member names: {type: name, properties: {name: …}} or EPSG."""
    properties = member.get("properties") if isinstance(member, dict) else None
    if isinstance(properties, dict):
        if member.get("type") == "name" and isinstance(properties.get("name"), str):
            return str(properties["name"])
        if member.get("type") == "EPSG" and properties.get("code") is not None:
            return f"EPSG:{properties['code']}"
    raise ReaderError(
        f"the file's crs member {member!r} names no CRS "
        '(expected {"type": "name", "properties": {"name": "EPSG:2154"}})'
    )


def feature_record(feature: Any) -> tuple[Record, dict[str, str]]:
    """A feature's properties and geometry values, and notes on what it lacks (by column)."""
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        kind = feature.get("type") if isinstance(feature, dict) else type(feature).__name__
        return {}, {"": f"this item of features is not a GeoJSON Feature (type {kind!r})"}
    properties = feature.get("properties")
    record = flatten(properties) if isinstance(properties, dict) else {}
    identifier = feature.get("id")
    record["@id"] = cell(identifier)
    geometry = feature.get("geometry")
    if geometry is None:
        return record, dict.fromkeys(GEOMETRY_COLUMNS, "the feature has no geometry")
    points, notes = point_values(geometry)
    record.update(points)
    return record, notes


def point_values(geometry: Any) -> tuple[Record, dict[str, str]]:
    """A geometry as GeoJSON text and, for a Point, its coordinates; notes on what is missing."""
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    values: Record = {"@geometry": cell(geometry)}
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if kind != "Point":
        note = f"the geometry is {kind!r}, not a Point: only a Point gives coordinates"
        return values, dict.fromkeys(("@lon", "@lat", "@z"), note)
    numbers = (
        coordinates
        if isinstance(coordinates, list)
        and len(coordinates) >= 2
        and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in coordinates)
        else None
    )
    if numbers is None:
        note = f"the Point's coordinates {coordinates!r} are not [x, y] or [x, y, z] numbers"
        return values, dict.fromkeys(("@lon", "@lat", "@z"), note)
    values.update({"@lon": cell(numbers[0]), "@lat": cell(numbers[1])})
    values["@z"] = cell(numbers[2]) if len(numbers) > 2 else None
    return values, {}


def _plain_columns(columns: Any) -> Any:
    """`options.columns` with `{coordinate: …}` and `{feature: …}` as the `@` columns."""
    if not isinstance(columns, dict):
        return columns  # parse_mapping says what is wrong
    plain: dict[str, Any] = {}
    for name, spec in columns.items():
        if isinstance(spec, dict) and ("coordinate" in spec or "feature" in spec):
            key = "coordinate" if "coordinate" in spec else "feature"
            choices = COORDINATES if key == "coordinate" else FEATURE_MEMBERS
            if len(spec) != 1 or spec[key] not in choices:
                raise ReaderError(
                    f"options.columns.{name}: {{{key}: …}} takes one of "
                    f"{', '.join(choices)} and nothing else, got {spec!r}"
                )
            spec = {"column": choices[spec[key]]}
        plain[name] = spec
    return plain


def _geometry_needs(mapping: ColumnRules, target: Target) -> dict[str, str]:
    """Required fields that read a geometry column: field → the column it reads."""
    needs: dict[str, str] = {}
    for name in target.required:
        rule = mapping.rules.get(name)
        for column in rule.sources() if rule else []:
            if column in GEOMETRY_COLUMNS:
                needs[name] = column
    return needs
