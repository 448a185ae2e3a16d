"""A feed licensed more narrowly than its charter is not republished under the charter's licence:
the gate refuses an archive whose EML says so, and quarantines rows whose dcterms:license does
(tester_bio #2); CC0 is a standard charter licence."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from readers.test_biodiversity_readers import (
    EVENT_META,
    EVENTS,
    GBIF_SOURCE,
    OCCURRENCES,
    extract,
    make_archive,
    stored,
)
from sqlalchemy import Engine

from hub import catalogue, charters
from hub.batches import Batch, Chunk, Publisher
from pipelines.flows import harvest_source
from pipelines.readers import read_records
from pipelines.sources import load_source

NC_EML = (
    '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"><dataset><title>Inventaire</title>'
    "<intellectualRights><para>Licence <ulink "
    'url="http://creativecommons.org/licenses/by-nc/4.0/legalcode"><citetitle>CC BY-NC 4.0'
    "</citetitle></ulink></para></intellectualRights></dataset></eml:eml>"
)


def harvested(tmp_path: Path, eml: str):
    files = {"meta.xml": EVENT_META, "event.txt": EVENTS, "occurrence.txt": OCCURRENCES}
    files["eml.xml"] = eml
    archive = make_archive(tmp_path / "feed", files)
    text = GBIF_SOURCE.read_text(encoding="utf-8")  # charter gbif-cc-by: CC-BY-4.0
    url = next(line for line in text.splitlines() if line.startswith("url:"))
    (tmp_path / "feed" / "gbif.yaml").write_text(text.replace(url, f"url: {archive.as_uri()}"))
    source = load_source(tmp_path / "feed" / "gbif.yaml")
    return source, harvest_source(source)


def test_an_eml_licence_narrower_than_the_charter_refuses_the_batch(
    tmp_path: Path, engine: Engine
) -> None:
    source, outcome = harvested(tmp_path, NC_EML)
    assert (outcome.status, outcome.published) == ("refused", 0)
    assert "charter 'gbif-cc-by' cannot cover this batch" in outcome.message
    assert "CC-BY-NC-4.0, which asks for non-commercial use only" in outcome.message


def test_an_eml_licence_the_charter_covers_is_published(tmp_path: Path, engine: Engine) -> None:
    cc0 = NC_EML.replace("licenses/by-nc/4.0/legalcode", "publicdomain/zero/1.0/")
    _source, outcome = harvested(tmp_path, cc0)
    assert outcome.status in ("succeeded", "partial") and outcome.published > 0


def test_rows_licensed_more_narrowly_are_quarantined(tmp_path: Path, engine: Engine) -> None:
    source = load_source(GBIF_SOURCE)
    files = {"meta.xml": EVENT_META, "event.txt": EVENTS, "occurrence.txt": OCCURRENCES}
    fetched = extract(make_archive(tmp_path / "src", files), tmp_path / "members")
    licensed = {
        "urn:test:1": "CC-BY-NC-4.0",
        "urn:test:2": "https://creativecommons.org/licenses/by/4.0/",
    }

    def with_licences(chunk: Chunk) -> Chunk:
        frame = chunk.frame.with_columns(
            pl.col("occurrenceID").replace_strict(licensed, default="").alias("license")
        )
        return Chunk(frame, chunk.problems, chunk.left_out)

    batch = Batch(
        dataset_id="licensed-rows", title="Rows", theme="biodiversity", schema=source.schema,
        publisher=Publisher(source.operator.id, source.operator.name, source.operator.kind),
        charter=source.charter, max_invalid_share=0.9,
        chunks=[with_licences(c) for c in read_records(source, fetched)],
    )  # fmt: skip
    run = catalogue.publish(batch)
    kept = stored(engine, "licensed-rows")
    assert "urn:test:1" not in kept and "urn:test:2" in kept
    messages = [e["message"] for e in run.report["tasks"][0]["errors"]] if run.report else []
    assert any(
        "this row is licensed under CC-BY-NC-4.0" in m and "license" in m for m in messages
    ), messages


def test_cc0_is_a_standard_charter_licence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "charters"
    folder.mkdir()
    (folder / "onem-cc0.yaml").write_text(
        'id: onem-cc0\nversion: "1.0"\ntitle: ONEM\nproducer: onem\n'
        "licence:\n  id: CC0-1.0\n  label: CC0 1.0\n"
        "  uri: https://creativecommons.org/publicdomain/zero/1.0/\naccess: open\n"
        'purposes: [research]\ngdpr_sensitive: false\nvalid_from: "2026-01-01"\n'
        "themes: [biodiversity]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    from hub.config import get_settings

    get_settings.cache_clear()
    assert charters.charter_versions("onem-cc0")[0].licence["id"] == "CC0-1.0"
