"""Standard licences: each charter id gets its CKAN id, openness, EU licence IRI and page wording;
a licence the source does not state is never presented as reusable (tester_reuse #3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api.support import air_batch, client_for, observation_rows
from sqlalchemy import Engine

from hub import licences
from hub.catalogue import publish
from hub.config import get_settings

# charter licence id → (CKAN license_id, isopen, EU licence code or None)
CASES = {
    "CC0-1.0": ("cc-zero", True, "CC0"),
    "CC-BY-SA-3.0": ("cc-by-sa", True, "CC_BYSA_3_0"),
    "CC-BY-SA-4.0": ("cc-by-sa", True, "CC_BYSA_4_0"),
    "ODC-BY-1.0": ("odc-by", True, "ODC_BY"),
    "PDDL-1.0": ("odc-pddl", True, "ODC_PDDL"),
    "public-domain": ("other-pd", True, None),
    "other-at": ("other-at", True, None),
    "CC-BY-NC-4.0": ("cc-nc", False, "CC_BYNC_4_0"),
    "notspecified": ("notspecified", False, None),
    "custom": ("custom", False, None),
}


def slug(licence_id: str) -> str:
    return licence_id.lower().replace(".", "")


@pytest.fixture
def under_each_licence(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """One open Atmo Démo dataset per licence of CASES, each under its own charter."""
    folder = tmp_path / "charters"
    folder.mkdir()
    for licence_id in CASES:
        name = f"atmo-demo-{slug(licence_id)}"
        (folder / f"{name}.yaml").write_text(
            f'id: {name}\nversion: "1.0"\ntitle: Test\nproducer: atmo-demo\n'
            f"licence:\n  id: {licence_id}\n  label: Terms {licence_id}\n"
            f"  uri: https://producer.example.org/terms\naccess: open\n"
            "purposes: [testing]\ngdpr_sensitive: false\n"
            'valid_from: "2026-01-01"\nvalid_until: "2030-12-31"\n'
            "themes: [air-quality]\nschemas: [air-quality-observation]\n",
            encoding="utf-8",
        )
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(folder))
    get_settings.cache_clear()
    for licence_id in CASES:
        name = f"atmo-demo-{slug(licence_id)}"
        publish(air_batch(name, name, f"Air {licence_id}", observation_rows()))
    return engine


def test_the_charter_profile_accepts_every_licence_of_the_table() -> None:
    profile = json.loads(Path("charters/charter.profile.json").read_text(encoding="utf-8"))
    enum = profile["properties"]["licence"]["properties"]["id"]["enum"]
    assert enum == licences.IDS
    assert {"CC0-1.0", "CC-BY-SA-4.0", "ODC-BY-1.0", "PDDL-1.0", "notspecified"} <= set(enum)


def test_ckan_dcat_and_search_name_each_licence(under_each_licence: Engine) -> None:
    with client_for(under_each_licence) as client:
        for licence_id, (ckan_id, is_open, eu_code) in CASES.items():
            name = f"atmo-demo-{slug(licence_id)}"
            package = client.get(f"/api/3/action/package_show?id={name}").json()["result"]
            assert (package["license_id"], package["isopen"]) == (ckan_id, is_open), licence_id
            assert package["license_title"] == f"Terms {licence_id}"
            turtle = client.get(f"/api/v1/datasets/{name}/dcat.ttl").text
            if eu_code:
                assert f"authority/licence/{eu_code}>" in turtle, licence_id
        listed = {
            item["id"]: item for item in client.get("/api/3/action/license_list").json()["result"]
        }
        assert listed["cc-zero"]["is_okd_compliant"] is True
        assert listed["cc-by-sa"]["title"] == "Creative Commons Attribution Share-Alike"
        assert listed["notspecified"]["is_okd_compliant"] is False
        # custom gathers bespoke licences: it is titled as such, not after one charter
        assert listed["custom"]["title"].startswith("Other (each dataset's own licence")
        found = client.get(
            "/api/3/action/package_search",
            params={"fq": "license_id:cc-by-sa", "rows": 100, "facet.field": '["license_id"]'},
        ).json()["result"]
        assert {p["name"] for p in found["results"]} == {
            "atmo-demo-cc-by-sa-30",
            "atmo-demo-cc-by-sa-40",
        }
        assert found["facets"]["license_id"] == {"cc-by-sa": 2}
        everything = client.get("/api/3/action/package_search", params={"rows": 0}).json()
        assert everything["result"]["facets"]["license_id"]["cc-by-sa"] == 2
        opened = client.get(
            "/api/3/action/package_search", params={"fq": "isopen:true", "rows": 100}
        ).json()["result"]
        assert "atmo-demo-notspecified" not in {p["name"] for p in opened["results"]}
        assert "atmo-demo-cc0-10" in {p["name"] for p in opened["results"]}


def test_a_licence_not_stated_is_never_offered_as_reusable(under_each_licence: Engine) -> None:
    with client_for(under_each_licence) as client:
        turtle = client.get("/api/v1/datasets/atmo-demo-notspecified/dcat.ttl").text
        assert "dct:license" not in turtle and "producer.example.org/terms" not in turtle
        assert "reuse is not authorised without the producer's agreement" in turtle
        for language, words in (
            ("en", "reuse is not authorised without the producer's agreement"),
            ("fr", "réutilisation non autorisée sans accord du producteur"),
        ):
            page = client.get(
                "/datasets/atmo-demo-notspecified", headers={"Accept-Language": language}
            ).text
            assert words in page
            assert "reuse my records" not in page and "réutiliser mes enregistrements" not in page
        home = client.get("/?lang=fr", headers={"Accept-Language": "fr"}).text
        assert "Licence non spécifiée" in home and "CC BY-SA 3.0" in home


def test_on_open_data_the_licence_not_the_charters_purposes_or_dates_governs_reuse(
    under_each_licence: Engine,
) -> None:
    """tester_reuse #4: no purpose list or end date that reads as a limit on reusers."""
    english = {"Accept-Language": "en"}
    with client_for(under_each_licence) as client:
        page = client.get("/datasets/atmo-demo-cc0-10", headers=english).text
        assert "reuse them under my licence, Terms CC0-1.0: any use, commercial included" in page
        assert "The licence alone governs reuse" in page
        for hint in ("My charter allows these purposes", "My charter is valid until", "Until when"):
            assert hint not in page, hint
        nc = client.get("/datasets/atmo-demo-cc-by-nc-40", headers=english).text
        assert "commercial included" not in nc and "alone governs their reuse" in nc
        charter = client.get("/charters/atmo-demo-cc0-10", headers=english).text
        assert "not limits on reusers" in charter
