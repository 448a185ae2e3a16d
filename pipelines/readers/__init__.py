"""Readers, by the format a source file names; the contract is in `pipelines.readers.base`.

Reader modules are imported when a format is first asked for, so that commands that never
read a feed (`hub validate FILE --schema`, `hub token …`) do not pay for xarray or rdflib.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable, Iterator

from hub.batches import Chunk
from pipelines import normalise
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.sources import HARVEST_OPTIONS, Source

__all__ = [
    "FETCH_OPTIONS",
    "Fetched",
    "Reader",
    "ReaderError",
    "check_options",
    "unknown_options",
    "kind_of",
    "known_formats",
    "read_records",
    "reader_for",
]

# format → (module of pipelines.readers whose READER reads it, what it gives)
MODULES: dict[str, tuple[str, str]] = {
    # generic, mapped by the source's options.columns
    "csv": ("csv", "records"),
    "json": ("json_records", "records"),
    "geojson": ("geojson", "records"),
    # air quality
    "openaq-csv": ("openaq", "records"),
    "sensor-community-csv": ("sensor_community", "records"),
    "airbase-csv": ("airbase", "records"),
    # energy
    "eco2mix-csv": ("eco2mix", "records"),
    "tso-csv": ("tso", "records"),
    "load-curve-csv": ("load_curve", "records"),
    # biodiversity
    "dwca": ("dwca", "records"),
    # risk
    "cap": ("cap", "records"),
    "vigicrues-json": ("vigicrues", "records"),
    "firms-csv": ("firms", "records"),
    # grids
    "netcdf": ("netcdf", "grids"),
    # portals
    "ckan": ("ckan", "metadata"),
    "dcat": ("dcat", "metadata"),
    "rudi": ("rudi", "metadata"),
}
FETCH_OPTIONS = ("linked", "member")  # options `fetch` reads: documents to fetch, archive member
_CSV = ("encoding", "delimiter", "quotechar", "columns")
# Each format's own options, as its READER declares them (a test holds the two equal): a source
# file's options are checked at load without importing its reader (xarray, rdflib, httpx).
OPTIONS: dict[str, tuple[str, ...]] = {
    "csv": _CSV,
    "json": ("records", "columns"),
    "geojson": ("columns",),
    "openaq-csv": _CSV,
    "sensor-community-csv": _CSV,
    "airbase-csv": _CSV,
    "eco2mix-csv": (*_CSV, "step"),
    "tso-csv": (*_CSV, "perimeter", "nature", "field", "value_column"),
    "load-curve-csv": (*_CSV, "meter", "step"),
    "dwca": ("columns", "encoding"),
    "cap": (),
    "vigicrues-json": ("columns",),
    "firms-csv": _CSV,
    "netcdf": (),
    "ckan": ("rows", "fq", "since", "language", "relist_hours", "files", "files_limit"),
    "dcat": ("rdf_format", "language", "files", "files_limit"),
    "rudi": ("limit", "since", "language", "relist_hours", "files", "files_limit"),
}


def known_formats() -> list[str]:
    """The formats a source file may name (those whose reader module is installed)."""
    return sorted(
        f for f, (m, _) in MODULES.items() if importlib.util.find_spec(f"pipelines.readers.{m}")
    )


def kind_of(format_name: str) -> str:
    """What a format's reader gives (records, grids, metadata), without importing it."""
    return MODULES[format_name][1]


def reader_for(source: Source) -> Reader:
    """The reader of a source's format, or ReaderError naming the known ones."""
    if source.format not in MODULES or source.format not in known_formats():
        raise ReaderError(
            f"source {source.id!r}: unknown format {source.format!r} "
            f"(known readers: {', '.join(known_formats())})"
        )
    module = MODULES[source.format][0]
    reader: Reader = importlib.import_module(f"pipelines.readers.{module}").READER
    return reader


def check_options(source: Source, reader: Reader) -> None:
    """Refuse options that neither the reader, normalisation, fetch nor the harvest knows."""
    unknown, known = _unknown(source.options, reader.options, reader.kind)
    if unknown:
        raise ReaderError(
            f"source {source.id!r}: unknown option(s) {', '.join(unknown)} "
            f"(known for {source.format}: {', '.join(known)})"
        )


def unknown_options(format_name: str, options: Iterable[str]) -> tuple[list[str], list[str]]:
    """The options a format's harvest would refuse, and those it knows, both sorted; without
    importing the format's reader."""
    return _unknown(options, OPTIONS.get(format_name, ()), kind_of(format_name))


def _unknown(given: Iterable[str], own: Iterable[str], kind: str) -> tuple[list[str], list[str]]:
    known = {*own, *FETCH_OPTIONS, *HARVEST_OPTIONS}
    if kind == "records":
        known |= set(normalise.OPTIONS)
    return sorted(set(given) - known), sorted(known)


def read_records(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """A record source's chunks, read and normalised as its harvest publishes them."""
    reader = reader_for(source)
    if reader.kind != "records":
        raise ReaderError(f"format {source.format!r} gives {reader.kind}, not records")
    check_options(source, reader)
    target = normalise.load_target(source.schema)
    settings = normalise.settings_for({**reader.defaults, **source.options})
    return normalise.normalise_chunks(reader.read(source, fetched), target, settings)
