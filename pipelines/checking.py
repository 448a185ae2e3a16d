"""`hub validate FILE --source SOURCE.yaml`: a local file checked as its harvest would publish it.

The source's reader, mapping and normalisation read the file; its archive's members and the
documents its options link are opened as a harvest opens them; then the gate's own check runs
(charter in force, schema, every row). The report is what the harvest's run would say, in
frictionless's shape. Nothing is stored.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hub import catalogue
from hub.batches import Batch
from pipelines import readers
from pipelines.credentials import resolve_credentials
from pipelines.fetch import check_readable
from pipelines.harvesting import batch_for, open_fetched
from pipelines.sources import Source


def check_file(path: Path, source: Source) -> dict[str, Any]:
    """The validation report of `path` read as `source` reads its feed."""
    kind = readers.kind_of(source.format) if source.format in readers.MODULES else "records"
    if kind != "records":
        raise readers.ReaderError(f"format {source.format!r} gives {kind}, not rows to check")
    # FILE stands in for the feed, but a feed its harvest may not read must not pass as valid.
    check_readable(source.url, source.base_dir)
    with tempfile.TemporaryDirectory(prefix="hub-validate-") as scratch:
        fetched = open_fetched(source, path, Path(scratch), resolve_credentials(source))
        batch = batch_for(source, fetched)
        assert isinstance(batch, Batch)  # a records format gives a record batch
        batch.source_url = str(path)
        return catalogue.check(batch)
