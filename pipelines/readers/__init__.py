"""Readers, by the format a source file names; the contract is in `pipelines.readers.base`.

Reader modules are imported when a format is first asked for, so that commands that never
read a feed (`hub validate FILE --schema`, `hub token …`) do not pay for xarray or rdflib.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator

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
    "known_formats",
    "read_records",
    "reader_for",
]

# format → module of pipelines.readers whose READER reads it
MODULES = {
    # generic, mapped by the source's options.columns
    "csv": "csv",
    "json": "json_records",
    "geojson": "geojson",
    # air quality
    "openaq-csv": "openaq",
    "sensor-community-csv": "sensor_community",
    "airbase-csv": "airbase",
    # energy
    "eco2mix-csv": "eco2mix",
    "tso-csv": "tso",
    "load-curve-csv": "load_curve",
    # biodiversity
    "dwca": "dwca",
    # risk
    "cap": "cap",
    "vigicrues-json": "vigicrues",
    "firms-csv": "firms",
    # grids
    "netcdf": "netcdf",
    # portals
    "ckan": "ckan",
    "dcat": "dcat",
    "rudi": "rudi",
}
FETCH_OPTIONS = ("linked", "member")  # options `fetch` reads: documents to fetch, archive member


def known_formats() -> list[str]:
    """The formats a source file may name (those whose reader module is installed)."""
    return sorted(
        f for f, m in MODULES.items() if importlib.util.find_spec(f"pipelines.readers.{m}")
    )


def reader_for(source: Source) -> Reader:
    """The reader of a source's format, or ReaderError naming the known ones."""
    module = MODULES.get(source.format)
    if module is None or source.format not in known_formats():
        raise ReaderError(
            f"source {source.id!r}: unknown format {source.format!r} "
            f"(known readers: {', '.join(known_formats())})"
        )
    reader: Reader = importlib.import_module(f"pipelines.readers.{module}").READER
    return reader


def check_options(source: Source, reader: Reader) -> None:
    """Refuse options that neither the reader, normalisation, fetch nor the harvest knows."""
    known = (*reader.options, *FETCH_OPTIONS, *HARVEST_OPTIONS)
    if reader.kind == "records":
        known = (*known, *normalise.OPTIONS)
    unknown = sorted(set(source.options) - set(known))
    if unknown:
        raise ReaderError(
            f"source {source.id!r}: unknown option(s) {', '.join(unknown)} "
            f"(known for {source.format}: {', '.join(sorted(set(known)))})"
        )


def read_records(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """A record source's chunks, read and normalised as its harvest publishes them."""
    reader = reader_for(source)
    if reader.kind != "records":
        raise ReaderError(f"format {source.format!r} gives {reader.kind}, not records")
    check_options(source, reader)
    target = normalise.load_target(source.schema)
    settings = normalise.settings_for({**reader.defaults, **source.options})
    return normalise.normalise_chunks(reader.read(source, fetched), target, settings)
