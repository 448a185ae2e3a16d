"""Snapshot sources: a feed that is the whole dataset (an IPT archive, a GBIF download), whose
rows missing from a new harvest are withdrawn, as GBIF deletes the records a new crawl lacks.

The harvest tallies the primary keys of the rows it hands the gate; once the batch is published
whole (`succeeded`: none quarantined, so every row of the feed is stored), the dataset's rows
whose key the feed no longer holds go through `hub.withdrawal`, as a run and a feed event of
their own. A failed, refused or partial batch withdraws nothing, and a feed lacking more than
`max_withdrawn_share` of the stored rows (an emptied or truncated archive) is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import polars as pl

from hub import schemas, withdrawal
from hub.batches import Chunk
from hub.db import get_engine
from hub.models import HarvestRun
from pipelines.readers import ReaderError
from pipelines.sources import Source

log = logging.getLogger(__name__)


class KeyTally:
    """The primary keys of the rows a snapshot source's chunks carry, as they pass."""

    def __init__(self, source: Source) -> None:
        schema = schemas.load_schema(source.schema)
        types = {f["name"]: f.get("type", "string") for f in schema.descriptor["fields"]}
        self.fields: list[str] = list(schema.descriptor.get("primaryKey") or [])
        if not self.fields or any(types.get(f) != "string" for f in self.fields):
            raise ReaderError(
                f"source {source.id!r} is a snapshot (options.snapshot), which needs a schema "
                f"keyed by text fields; {schema.name!r} is keyed by "
                f"{', '.join(self.fields) or 'no field'}: set snapshot: false"
            )
        if schema.subject_field:  # its keys are pseudonymised past this point
            raise ReaderError(f"source {source.id!r}: personal data cannot be a snapshot")
        self.keys: set[tuple[str, ...]] = set()

    def counted(self, chunks: Iterable[Chunk | pl.DataFrame]) -> Iterator[Chunk | pl.DataFrame]:
        """The chunks unchanged, their keys kept."""
        for chunk in chunks:
            frame = chunk.frame if isinstance(chunk, Chunk) else chunk
            self.keys.update(frame.select(self.fields).iter_rows())
            yield chunk


def withdraw_absent(
    source: Source, dataset_id: str, run: HarvestRun, tally: KeyTally
) -> tuple[int, str]:
    """After a published batch, withdraw the rows the feed no longer holds: how many, and what
    to tell (a refusal's reason too)."""
    if run.status != "succeeded":  # rows quarantined: the feed is not all stored
        return 0, ""
    try:
        done = withdrawal.withdraw_absent(
            get_engine(), dataset_id, tally.keys, f"harvest of {source.id} (snapshot)",
            source.max_withdrawn_share,
        )  # fmt: skip
    except withdrawal.WithdrawalRefused as refused:
        log.warning("%s: %s", source.id, refused)
        return 0, f"{withdrawal.NOTE} {refused}"
    except withdrawal.WithdrawalFailed as failed:
        log.warning("%s: %s", source.id, failed.reason)
        return 0, failed.reason
    return (0, "") if done is None else (done.rows, done.note)
