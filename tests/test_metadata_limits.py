"""The gate caps the metadata it stores, whatever the way in: one feed's huge EML abstract or
thousands of keywords must not slow every catalogue page (tester_bio #7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from test_catalogue import ATMO, batch, observations

from hub import metadatalimits
from hub.batches import MetadataBatch, PortalDataset
from hub.catalogue import publish
from hub.models import Dataset
from pipelines.readers.base import ReaderError
from pipelines.readers.eml import XML_MAX_BYTES, read_eml

HUGE = "word " * 1_000_000  # 5 M characters, as the tester's 4 M-word abstract


def test_a_record_batch_s_metadata_is_cut_to_the_caps_and_the_run_says_so(engine) -> None:
    huge = batch(observations(2))
    huge.title = "T" * 1_000
    huge.description = HUGE
    huge.keywords = [f"keyword {n}" for n in range(20_000)] + ["k" * 500]
    run = publish(huge, engine=engine)
    assert run.status == "succeeded"
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None
        assert len(dataset.title) <= metadatalimits.TITLE_MAX
        assert len(dataset.description) <= metadatalimits.DESCRIPTION_MAX
        assert dataset.description.startswith("word word") and dataset.description.endswith("[…]")
        assert len(dataset.keywords) == metadatalimits.KEYWORDS_MAX
        assert dataset.keywords[0] == "keyword 0"
    warnings = run.report["tasks"][0]["warnings"] if run.report else []
    said = " ".join(warnings)
    assert "demo-no2: description cut" in said and "5,000,000 given" in said
    assert "keywords cut" in said and "title cut" in said


def test_a_portal_s_datasets_are_cut_each_and_the_listing_run_says_so(engine) -> None:
    entries = [
        PortalDataset(id="portal--small", title="Small", description="fine"),
        PortalDataset(
            id="portal--huge",
            title="Huge",
            description=HUGE,
            keywords=["k" * 300, *(f"tag{n}" for n in range(500))],
        ),
    ]
    listing = MetadataBatch(
        dataset_id="portal",
        title="A portal",
        publisher=ATMO,
        theme="air-quality",
        charter="atmo-demo-open",
        source_id="portal",
        datasets=entries,
    )
    run = publish(listing, engine=engine)
    assert run.status == "succeeded"
    with Session(engine) as session:
        small, huge = session.get(Dataset, "portal--small"), session.get(Dataset, "portal--huge")
        assert small is not None and small.description == "fine"
        assert huge is not None and len(huge.description) <= metadatalimits.DESCRIPTION_MAX
        assert len(huge.keywords) == metadatalimits.KEYWORDS_MAX
        assert all(len(k) <= metadatalimits.KEYWORD_MAX for k in huge.keywords)
    warnings = run.report["tasks"][0]["warnings"] if run.report else []
    assert any(w.startswith("portal--huge: description cut") for w in warnings)
    assert not any(w.startswith("portal--small") for w in warnings)


def test_metadata_within_the_caps_is_kept_as_given(engine) -> None:
    fine = batch(observations(1))
    fine.description, fine.keywords = "Hourly NO2.", ["no2", "air"]
    run = publish(fine, engine=engine)
    assert run.report is not None and run.report["tasks"][0]["warnings"] == []
    with Session(engine) as session:
        dataset = session.get(Dataset, "demo-no2")
        assert dataset is not None and dataset.description == "Hourly NO2."


def test_an_eml_larger_than_the_cap_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    eml = tmp_path / "eml.xml"
    head = '<eml:eml xmlns:eml="eml://ecoinformatics.org/eml-2.1.1"><dataset><title>t</title>'
    abstract = "<abstract><para>" + "mot " * (XML_MAX_BYTES // 4) + "</para></abstract>"
    eml.write_text(head + abstract + "</dataset></eml:eml>")
    with pytest.raises(ReaderError, match="larger than the 4 MiB"):
        read_eml(eml, "eml.xml")
    eml.write_text(head + "<abstract><para>court</para></abstract></dataset></eml:eml>")
    assert read_eml(eml, "eml.xml").description == "court"
