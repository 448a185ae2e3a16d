"""The thesaurus: an agent searching in French finds data its operators described in English (and
the reverse), through reviewed groups of words; a territory adds its own; a broken file is left
out, named, and takes nothing else away."""

from __future__ import annotations

import logging

import pytest
from sqlmodel import Session

from hub import search, thesaurus
from hub.config import get_settings
from hub.models import Organization
from hub.search import Query
from tests.test_search import dataset, ids


@pytest.fixture
def described_in_english(engine):
    """Datasets titled as their operators publish them: in English, as FIRMS, GBIF, USGS do."""
    with Session(engine) as session:
        session.add(Organization(id="atmo", name="Atmo Occitanie"))
        session.flush()
        session.add_all(
            [
                dataset(
                    "firms",
                    "Active fires, USA (NASA FIRMS MODIS)",
                    theme="risk",
                    schema_name="wildfire-detection",
                ),
                dataset(
                    "gbif",
                    "Green pufferfish occurrences (GBIF)",
                    theme="biodiversity",
                    schema_name="biodiversity-occurrence",
                ),
                dataset(
                    "usgs",
                    "Earthquakes and seismic events worldwide (USGS)",
                    theme="risk",
                    schema_name="earthquake-event",
                ),
                dataset(
                    "floods",
                    "Flood-vigilance gauge stations (Vigicrues)",
                    theme="risk",
                    schema_name="hydrometry-station",
                ),
                dataset(
                    "loads",
                    "Household load curves, half-hourly",
                    theme="energy",
                    schema_name="energy-consumption",
                ),
                dataset(
                    "shelters",
                    "Emergency accommodation sites, Montpellier",
                    theme="risk",
                    schema_name="emergency-shelter",
                ),
                dataset("air", "Qualité de l'air, moyennes horaires", theme="air-quality"),
            ]
        )
        session.commit()
    return engine


@pytest.fixture(autouse=True)
def fresh_synonyms():
    search.synonyms.cache_clear()
    search._query_words.cache_clear()
    yield
    search.synonyms.cache_clear()
    search._query_words.cache_clear()


def found(engine, text: str) -> set[str]:
    return set(ids(engine, Query(text, limit=100)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("incendie", {"firms"}),
        ("feux de forêt", {"firms"}),
        ("incendies", {"firms"}),
        ("séisme", {"usgs"}),
        ("tremblements de terre", {"usgs"}),
        ("inondation", {"floods"}),
        ("crues", {"floods"}),
        ("courbe de charge", {"loads"}),
        ("ménages", {"loads"}),
        ("hébergement d'urgence", {"shelters"}),
        ("données naturalistes", {"gbif"}),
        ("air quality", {"air"}),  # and the other way round
    ],
)
def test_a_french_word_finds_what_english_describes(described_in_english, text, expected):
    assert found(described_in_english, text) == expected


def test_without_the_thesaurus_the_french_words_find_nothing(described_in_english, monkeypatch):
    monkeypatch.setattr(thesaurus, "groups", lambda: [])
    assert found(described_in_english, "incendie") == set()
    assert found(described_in_english, "tremblement de terre") == set()


def test_a_group_joins_only_its_own_words(described_in_english):
    assert found(described_in_english, "incendie séisme") == set()  # every word must match
    assert found(described_in_english, "pufferfish") == {"gbif"}


def test_a_territory_adds_its_own_words(described_in_english, tmp_path, monkeypatch):
    (tmp_path / "lez.yaml").write_text(
        "groups:\n  - [poisson globe, pufferfish, tétrodon]\n", encoding="utf-8"
    )
    monkeypatch.setenv("HUB_THESAURUS_PATH", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert found(described_in_english, "tétrodon") == {"gbif"}
        assert found(described_in_english, "incendie") == {"firms"}  # the bundled ones stay
    finally:
        monkeypatch.delenv("HUB_THESAURUS_PATH")
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("groups: [[fire]]\n", "group 1 is not a list of 2"),
        ("groups:\n  - [fire, 3]\n", "group 1 has a name that is not a text"),
        ("groups:\n  - [fire, '']\n", "group 1 has a name that is not a text"),
        ("words: [[fire, feu]]\n", "holds `groups:`"),
        ("groups: [fire, feu]\n", "group 1 is not a list"),
        ("groups: [[fire, feu]\n", "not UTF-8 YAML"),
        (f"groups:\n  - [fire, {'x' * 101}]\n", "not a text of 1 to 100"),
    ],
)
def test_a_broken_file_is_left_out_naming_why(tmp_path, caplog, monkeypatch, text, words):
    (tmp_path / "broken.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "good.yaml").write_text("groups:\n  - [tétrodon, pufferfish]\n")
    groups, errors = thesaurus.read_groups([tmp_path])
    assert groups == [["tétrodon", "pufferfish"]]
    assert [e.path.name for e in errors] == ["broken.yaml"]
    assert words in str(errors[0])
    monkeypatch.setattr(thesaurus, "thesaurus_dirs", lambda: [tmp_path])
    with caplog.at_level(logging.WARNING, logger="hub.thesaurus"):
        assert thesaurus.groups() == [["tétrodon", "pufferfish"]]
    assert "broken.yaml" in caplog.text


def test_a_file_in_another_encoding_is_left_out(tmp_path):
    (tmp_path / "latin.yaml").write_bytes("groups:\n  - [forêt, forest]\n".encode("cp1252"))
    groups, errors = thesaurus.read_groups([tmp_path])
    assert groups == [] and "not UTF-8" in str(errors[0])


def test_the_bundled_thesaurus_reads_whole_and_each_name_is_in_one_group():
    groups, errors = thesaurus.read_groups([thesaurus.BUNDLED])
    assert errors == [] and len(groups) > 20
    names = [name.casefold() for group in groups for name in group]
    assert len(names) == len(set(names)), "a name in two groups would join two meanings"
