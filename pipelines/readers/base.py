"""The reader contract: what a reader receives, what it yields, and how it is registered.

A reader receives what `fetch` brought (`Fetched`: the file, an archive's members, documents
the source links to) and returns one of three things, by its `kind`:

- `records`: chunks (`hub.batches.Chunk`) whose frames hold one Utf8 column per target field,
  raw as the source writes them, and `_row`; problems found while reading go in
  `Chunk.problems`. The flow then normalises them (`pipelines.normalise`: UTC, WGS84, numbers,
  codes, units) with the source's settings over the reader's `defaults`: readers never do.
- `grids`: a `hub.batches.GridBatch` (a NetCDF file described from its own metadata).
- `metadata`: a `hub.batches.MetadataBatch` (a portal's datasets and their file resources).

A reader may also return what the feed declares about its dataset (`About`: an EML's title,
abstract and licence) through `about`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.batches import About, Chunk, GridBatch, MetadataBatch, Publisher
from hub.redaction import redact_url
from pipelines.sources import Source

KINDS = ("records", "grids", "metadata")


class ReaderError(ValueError):
    """A source whose data or options cannot be read into the hub's shape at all."""


@dataclass(frozen=True)
class Fetched:
    """What `fetch` brought for a source: the file, an archive's members, linked documents."""

    path: Path  # the fetched file, decompressed if it was gzip; an archive as it came
    members: Mapping[str, Path] = field(default_factory=dict)  # archive name → extracted file
    linked: Mapping[str, Path] = field(default_factory=dict)  # options.linked name → file
    url: str = ""  # where it came from (redacted): the base of relative links
    since: str = ""  # a portal's position after the last published harvest (ISO time), if any

    def member(self, name: str) -> Path:
        """The extracted archive member `name` (case-insensitive), or ReaderError."""
        for key, path in self.members.items():
            if key == name or key.lower() == name.lower():
                return path
        held = ", ".join(sorted(self.members)) or "nothing"
        raise ReaderError(f"the archive has no {name!r} (it holds: {held})")

    def document(self, name: str) -> Path:
        """The linked document `name` (a key of `options.linked`), or ReaderError."""
        if name not in self.linked:
            raise ReaderError(f"this format needs options.linked.{name}: the url of that document")
        return self.linked[name]


def batch_header(source: Source, description: str | None = None) -> dict[str, Any]:
    """What every batch of a source says of where it comes from (a batch's first fields)."""
    operator = source.operator
    return {
        "dataset_id": source.id,
        "title": source.title,
        "publisher": Publisher(
            operator.id, operator.name, operator.kind, operator.email, operator.website
        ),
        "theme": source.theme,
        "charter": source.charter,
        "description": source.description if description is None else description,
        "source_id": source.id,
        "source_url": redact_url(source.url),
        "keywords": [source.theme],  # the data's subject; the reader's name is the hub's own
    }


RecordRead = Callable[[Source, Fetched], Iterator[Chunk]]
GridRead = Callable[[Source, Fetched], GridBatch]
MetadataRead = Callable[[Source, Fetched], MetadataBatch]


@dataclass(frozen=True)
class Reader:
    """A format a source file may name: how to read it, and the options it takes."""

    name: str
    kind: str  # records | grids | metadata
    read: Callable[[Source, Fetched], Any]  # RecordRead, GridRead or MetadataRead by kind
    options: tuple[str, ...] = ()  # options of its own, besides normalisation's and harvest's
    defaults: Mapping[str, Any] = field(default_factory=dict)  # under the source's options
    about: Callable[[Source, Fetched], About | None] | None = None
    # A portal or feed that pages itself: `fetch` must not download `url` as one file first.
    fetches_itself: bool = False
