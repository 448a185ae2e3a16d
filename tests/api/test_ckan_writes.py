"""CKAN's writes through the real ckanapi client: packages, resources and pushed rows, all through
the publish gate, for operators of the organization only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ckanapi
import httpx
import pytest
from api.support import bearer, live_server

ROWS = [
    {
        "station_id": "FR-PUSH-01",
        "station_name": "Gare",
        "pollutant": "no2",
        "value": 21.5 + hour,
        "unit": "µg/m³",
        "averaging_period": "PT1H",
        "observed_at": f"2026-03-01T{hour:02d}:00:00Z",
        "longitude": -1.68,
        "latitude": 48.11,
        "quality_flag": "valid",
    }
    for hour in range(6)
]


def token(engine, role: str, *organizations: str) -> str:
    return bearer(engine, role, *organizations)["Authorization"].split()[1]


@pytest.fixture
def hub_url(engine, published):
    with live_server() as url:
        yield url


@pytest.fixture
def operator(hub_url, engine):
    return ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "operator", "atmo-demo"))


def new_package(**fields):
    return {
        "name": "push-air-rennes",
        "title": "Capteurs poussés, Rennes",
        "notes": "Hourly NO2 pushed by the operator's own platform.",
        "owner_org": "atmo-demo",
        "groups": [{"name": "air-quality"}],
        "tags": [{"name": "no2"}, {"name": "push"}],
        "extras": [{"key": "charter", "value": "atmo-demo-open"}],
        "resources": [{"name": "Method", "url": "https://example.org/method.pdf", "format": "PDF"}],
        **fields,
    }


def test_an_operator_creates_a_package_found_by_every_reader(operator, hub_url):
    created = operator.action.package_create(**new_package())
    assert created["name"] == "push-air-rennes" and created["organization"]["name"] == "atmo-demo"
    assert [t["name"] for t in created["tags"]] == ["no2", "push"]
    assert [r["url"] for r in created["resources"]] == ["https://example.org/method.pdf"]
    assert {e["key"]: e["value"] for e in created["extras"]}["charter"] == "atmo-demo-open"
    anonymous = ckanapi.RemoteCKAN(hub_url)
    assert anonymous.action.package_show(id="push-air-rennes")["title"] == created["title"]
    found = anonymous.action.package_search(q="poussés")  # the search index follows the write
    assert [p["name"] for p in found["results"]] == ["push-air-rennes"]


def test_a_package_is_patched_updated_and_given_resources(operator):
    operator.action.package_create(**new_package())
    patched = operator.action.package_patch(id="push-air-rennes", title="Renamed")
    assert patched["title"] == "Renamed" and patched["notes"].startswith("Hourly NO2")
    assert len(patched["resources"]) == 1
    added = operator.action.resource_create(
        package_id="push-air-rennes", url="https://example.org/stations.csv", format="CSV"
    )
    assert added["url"] == "https://example.org/stations.csv" and added["format"] == "CSV"
    shown = operator.action.package_show(id="push-air-rennes")
    assert len(shown["resources"]) == 2
    updated = operator.action.package_update(**new_package(title="Replaced", resources=[]))
    assert updated["title"] == "Replaced" and updated["resources"] == []


def test_rows_are_pushed_validated_and_upserted_on_the_primary_key(operator, hub_url):
    operator.action.package_create(**new_package())
    invalid = {**ROWS[0], "observed_at": "2026-03-01T07:00:00Z", "pollutant": "smoke"}
    first = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"},
        schema="air-quality-observation",
        records=[*ROWS, invalid],
    )
    assert (first["published"], first["quarantined"], first["status"]) == (6, 1, "partial")
    assert first["errors"][0]["record"] == 6 and first["errors"][0]["field"] == "pollutant"
    value = next(f for f in first["fields"] if f["id"] == "value")
    assert value["type"] == "numeric" and value["info"]["label"] == "Value"
    resource_id = first["resource_id"]
    again = operator.action.datastore_upsert(resource_id=resource_id, records=ROWS)
    assert (again["published"], again["updated"], again["unchanged"]) == (0, 0, 6)
    changed = operator.action.datastore_upsert(
        resource_id=resource_id, records=[{**ROWS[0], "value": 99}]
    )
    assert (changed["published"], changed["updated"]) == (0, 1)
    rows = ckanapi.RemoteCKAN(hub_url).action.package_show(id="push-air-rennes")
    records = [r for r in rows["resources"] if r["id"] == resource_id]
    assert records and records[0]["record_count"] == 6


def test_pushes_that_cannot_be_taken_are_refused_whole(operator):
    operator.action.package_create(**new_package())
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"},
        schema="air-quality-observation",
        records=ROWS[:1],
    )
    resource_id = pushed["resource_id"]
    cases = [
        ({"records": [{**ROWS[0], "colour": "red"}]}, "records", "'colour' is not a field"),
        ({"records": ["not an object"]}, "records", "record 0 is not an object"),
        ({"records": ROWS, "method": "insert"}, "method", "upserts"),
    ]
    for extra, key, message in cases:
        with pytest.raises(ckanapi.ValidationError) as refused:
            operator.action.datastore_upsert(resource_id=resource_id, **extra)
        assert message in " ".join(refused.value.error_dict[key])
    with pytest.raises(ckanapi.ValidationError) as rejected:  # every row invalid: nothing kept
        operator.action.datastore_upsert(
            resource_id=resource_id, records=[{**r, "pollutant": "smoke"} for r in ROWS]
        )
    assert "records" in rejected.value.error_dict
    with pytest.raises(ckanapi.NotFound):
        operator.action.datastore_upsert(resource_id="no-such-resource", records=ROWS)


def test_optional_fields_left_out_or_null_are_missing_values_not_missing_cells(operator):
    """CKAN reads an absent or null field as null; the last fields of a schema are no exception
    (a null cell once reached the gate as a row cut short: a missing cell, the batch refused)."""
    operator.action.package_create(**new_package())
    trimmed = [{k: v for k, v in r.items() if k != "quality_flag"} for r in ROWS[:3]]
    nulled = [{**r, "quality_flag": None, "latitude": None} for r in ROWS[3:]]
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"},
        schema="air-quality-observation",
        records=[*trimmed, nulled[0], {**nulled[1], "station_name": None}, nulled[2]],
    )
    assert (pushed["published"], pushed["quarantined"], pushed["errors"]) == (6, 0, [])
    found = operator.action.datastore_search(resource_id=pushed["resource_id"], limit=10)
    assert [r["quality_flag"] for r in found["records"]] == [None] * 6
    assert sorted(str(r["station_name"]) for r in found["records"]) == ["Gare"] * 5 + ["None"]
    # A required field left out, or null, is still refused, by name, record by record.
    unitless = {k: v for k, v in ROWS[0].items() if k != "unit"}
    mixed = operator.action.datastore_upsert(
        resource_id=pushed["resource_id"],
        records=[unitless, {**ROWS[1], "observed_at": None}, *ROWS[2:]],
    )
    assert (mixed["quarantined"], mixed["updated"]) == (2, 4)  # their flags and names came back
    assert [(e["record"], e["field"], e["type"]) for e in mixed["errors"]] == [
        (0, "unit", "constraint-error"),
        (1, "observed_at", "constraint-error"),
    ]
    assert all('"required"' in e["message"] for e in mixed["errors"])
    with pytest.raises(ckanapi.ValidationError) as refused:
        operator.action.datastore_upsert(resource_id=pushed["resource_id"], records=[unitless])
    assert 'field "unit"' in " ".join(refused.value.error_dict["records"])


def test_only_an_operator_of_the_organization_writes(hub_url, engine, operator):
    anonymous = ckanapi.RemoteCKAN(hub_url)
    other = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "operator", "openaq"))
    agency = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "agency", "atmo-demo"))
    forged = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "operator", "atmo-demo")[:-3] + "abc")
    for caller in (anonymous, other, agency, forged):
        with pytest.raises(ckanapi.NotAuthorized):
            caller.action.package_create(**new_package())
    operator.action.package_create(**new_package())
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"},
        schema="air-quality-observation",
        records=ROWS,
    )
    for caller in (anonymous, other, agency):
        with pytest.raises(ckanapi.NotAuthorized):
            caller.action.datastore_upsert(resource_id=pushed["resource_id"], records=ROWS)
        with pytest.raises(ckanapi.NotAuthorized):
            caller.action.package_patch(id="push-air-rennes", title="Hijacked")
    assert anonymous.action.package_show(id="push-air-rennes")["title"] != "Hijacked"


def test_the_charter_decides_what_a_package_may_be(operator):
    with pytest.raises(ckanapi.ValidationError) as unnamed:  # atmo-demo has four charters here
        operator.action.package_create(**new_package(extras=[]))
    assert "atmo-demo-open" in unnamed.value.error_dict["extras"][0]
    with pytest.raises(ckanapi.ValidationError) as foreign:
        operator.action.package_create(
            **new_package(extras=[{"key": "charter", "value": "openaq-cc-by"}])
        )
    assert foreign.value.error_dict["charter"]
    with pytest.raises(ckanapi.ValidationError) as wrong_theme:
        operator.action.package_create(**new_package(groups=[{"name": "energy"}]))
    assert "energy" in wrong_theme.value.error_dict["charter"][0]
    with pytest.raises(ckanapi.ValidationError):
        operator.action.package_create(**new_package(name="Bad Name"))
    operator.action.package_create(**new_package())
    with pytest.raises(ckanapi.ValidationError) as taken:
        operator.action.package_create(**new_package())
    assert taken.value.error_dict["name"] == ["That URL is already in use."]
    for url in ("javascript:alert(1)", "file:///etc/passwd", "data:text/html,x"):
        with pytest.raises(ckanapi.ValidationError):
            operator.action.resource_create(package_id="push-air-rennes", url=url)


def test_personal_rows_pushed_are_closed_to_everyone_else(operator, hub_url, engine):
    personal = new_package(
        name="push-personal", extras=[{"key": "charter", "value": "atmo-demo-personal"}]
    )
    with pytest.raises(ckanapi.ValidationError) as linked:  # a file link could not be scoped
        operator.action.package_create(**personal)
    assert "personal data" in linked.value.error_dict["charter"][0]
    operator.action.package_create(**{**personal, "resources": []})
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-personal"},
        schema="air-quality-observation",
        records=ROWS,
    )
    assert pushed["published"] == 6
    anonymous = ckanapi.RemoteCKAN(hub_url)
    shown = anonymous.action.package_show(id="push-personal")
    assert "record_count" not in {e["key"] for e in shown["extras"]}
    import httpx

    assert httpx.get(f"{hub_url}/api/v1/datasets/push-personal/records").status_code == 401


def test_an_admin_writes_no_operators_dataset(operator, hub_url, engine):
    # Admins create organizations and read the access log; a dataset, its rows and their
    # withdrawal are its operators' (a withdrawal's count would also tell who is a customer).
    personal = new_package(
        name="push-personal",
        extras=[{"key": "charter", "value": "atmo-demo-personal"}],
        resources=[],
    )
    operator.action.package_create(**personal)
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-personal"}, schema="air-quality-observation", records=ROWS
    )
    resource_id = pushed["resource_id"]
    admin = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "admin"))
    attempts = {
        "package_create": {**new_package(name="admin-made")},
        "package_update": {**personal, "title": "Written by an admin"},
        "package_patch": {"id": "push-personal", "title": "Written by an admin"},
        "resource_create": {"package_id": "push-personal", "url": "https://evil.example/x.csv"},
        "datastore_create": {"resource_id": resource_id, "records": [{**ROWS[0], "value": 1}]},
        "datastore_upsert": {"resource_id": resource_id, "records": [{**ROWS[0], "value": 1}]},
        "datastore_delete": {"resource_id": resource_id, "filters": {}},
    }
    for action, data in attempts.items():
        with pytest.raises(ckanapi.NotAuthorized, match="may not write for organization"):
            admin.call_action(action, data)
    shown = operator.action.package_show(id="push-personal")
    assert shown["title"] == personal["title"]
    assert [r["url"] for r in shown["resources"] if r.get("resource_type") == "file"] == []
    rows = operator.action.datastore_search(resource_id=resource_id, limit=100)["records"]
    assert sorted(r["value"] for r in rows) == [r["value"] for r in ROWS]
    with pytest.raises(ckanapi.NotFound):
        operator.action.package_show(id="admin-made")


def test_writes_the_hub_does_not_take_say_so(operator):
    with pytest.raises(ckanapi.NotAuthorized) as refused:
        operator.action.package_delete(id="atmo-demo-air")
    assert "package_create" in str(refused.value)


def test_an_admin_creates_organizations(hub_url, engine, operator):
    admin = ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "admin"))
    made = admin.action.organization_create(name="new-operator", title="Nouvel opérateur")
    assert made["name"] == "new-operator" and made["title"] == "Nouvel opérateur"
    assert "new-operator" in admin.action.organization_list()
    with pytest.raises(ckanapi.ValidationError):
        admin.action.organization_create(name="new-operator")
    with pytest.raises(ckanapi.NotAuthorized):
        operator.action.organization_create(name="another")


def test_the_ckanapi_command_loads_datasets(hub_url, engine, tmp_path: Path):
    lines = tmp_path / "datasets.jsonl"
    packages = [
        new_package(name=f"loaded-{n}", title=f"Loaded {n}", resources=[]) for n in range(3)
    ]
    lines.write_text("".join(json.dumps(p) + "\n" for p in packages), encoding="utf-8")
    scripts = Path(sys.executable).parent
    command = [
        str(scripts / "ckanapi"),
        "load",
        "datasets",
        "-I",
        str(lines),
        "-r",
        hub_url,
        "-a",
        token(engine, "operator", "atmo-demo"),
        "-p",
        "1",
        "-q",
    ]
    path = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": path}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    hub = ckanapi.RemoteCKAN(hub_url)
    assert {f"loaded-{n}" for n in range(3)} <= set(hub.action.package_list())
    assert hub.action.package_show(id="loaded-2")["title"] == "Loaded 2"


def test_licences_are_those_of_the_charters_and_datasets(hub_url):
    licences = {item["id"]: item for item in ckanapi.RemoteCKAN(hub_url).action.license_list()}
    assert licences["etalab-2.0"]["od_conformance"] == "approved"
    assert licences["etalab-2.0"]["url"].startswith("https://")
    assert licences["custom"]["od_conformance"] == "not reviewed"  # several charters' own terms
    # under CKAN's own ids where it has one, with CKAN's titles
    assert licences["odc-odbl"]["title"] == "Open Data Commons Open Database License (ODbL)"
    assert licences["cc-by-sa"]["is_okd_compliant"] is True  # Tela Botanica's CC BY-SA 3.0
    assert licences["notspecified"]["is_okd_compliant"] is False  # LANUV, Amprion


def test_sql_from_callers_is_refused_in_ckans_shape(hub_url):
    with pytest.raises(ckanapi.NotAuthorized) as refused:
        ckanapi.RemoteCKAN(hub_url).action.datastore_search_sql(sql="SELECT * FROM dataset")
    assert "datastore_search" in str(refused.value)


def test_datastore_search_reads_pushed_rows_as_ckan_does(operator, hub_url):
    operator.action.package_create(**new_package())
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"},
        schema="air-quality-observation",
        records=ROWS,
    )
    reader = ckanapi.RemoteCKAN(hub_url)
    found = reader.action.datastore_search(resource_id=pushed["resource_id"])
    assert found["total"] == 6 and len(found["records"]) == 6
    observed = next(f for f in found["fields"] if f["id"] == "observed_at")
    assert observed["type"] == "timestamp"
    # CKAN's Data Dictionary: the schema's title and description, as CKAN's DataStore gives them
    path = Path(__file__).resolve().parents[2] / "schemas/air-quality-observation.schema.json"
    schema = json.loads(path.read_text("utf-8"))
    described = next(f for f in schema["fields"] if f["name"] == "observed_at")
    assert observed["info"] == {
        "label": described["title"],
        "notes": described["description"],
        "type_override": "",
    }
    assert found["records"][0]["station_id"] == "FR-PUSH-01"
    page = reader.action.datastore_search(
        resource_id=pushed["resource_id"],
        filters={"station_id": "FR-PUSH-01"},
        sort="value desc",
        limit=2,
        offset=1,
        fields=["observed_at", "value"],
    )
    assert page["total"] == 6 and [r["value"] for r in page["records"]] == [25.5, 24.5]
    assert set(page["records"][0]) == {"observed_at", "value"}
    none = reader.action.datastore_search(
        resource_id=pushed["resource_id"], filters={"station_id": ["elsewhere"]}
    )
    assert none["total"] == 0 and none["records"] == []
    untotalled = reader.action.datastore_search(
        resource_id=pushed["resource_id"], include_total=False, limit=1
    )
    assert "total" not in untotalled and len(untotalled["records"]) == 1
    for bad in (
        {"filters": {"colour": "red"}},
        {"sort": "colour asc"},
        {"q": {"colour": "red"}},
        {"q": "   "},
        {"q": ["gare"]},
        {"plain": False, "q": "gare"},
    ):
        with pytest.raises(ckanapi.ValidationError):
            reader.action.datastore_search(resource_id=pushed["resource_id"], **bad)
    with pytest.raises(ckanapi.NotFound):
        reader.action.datastore_search(resource_id="no-such-resource")


def test_datastore_search_links_page_through_the_same_search(operator, hub_url):
    """Following `_links.next` keeps the filters, words, sort, fields and limit (given by GET or
    in a JSON body), so it walks exactly the rows the search found, each once."""
    operator.action.package_create(**new_package())
    rows = ROWS + [{**row, "station_id": "FR-PUSH-09", "pollutant": "pm10"} for row in ROWS]
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"}, schema="air-quality-observation", records=rows
    )
    asked = {
        "resource_id": pushed["resource_id"],
        "filters": {"pollutant": "no2"},
        "q": "gare",
        "sort": "value desc",
        "fields": ["station_id", "value"],
        "limit": 4,
    }
    url = f"{hub_url}/api/3/action/datastore_search"
    for first in (httpx.get(url, params=_query(asked)), httpx.post(url, json=asked)):
        page = first.json()["result"]
        assert page["total"] == 6 and "prev" not in page["_links"]
        values = [r["value"] for r in page["records"]]
        following = httpx.get(hub_url + page["_links"]["next"]).json()["result"]
        assert following["limit"] == 4 and following["offset"] == 4
        assert set(following["records"][0]) == {"station_id", "value"}
        assert following["_links"]["prev"].endswith("offset=0")
        values += [r["value"] for r in following["records"]]
        assert values == sorted((r["value"] for r in ROWS), reverse=True)
        assert {r["station_id"] for r in following["records"]} == {"FR-PUSH-01"}


def _query(asked: dict) -> dict:
    """Parameters as a query string spells them."""
    return {
        key: json.dumps(value)
        if isinstance(value, dict)
        else ",".join(value)
        if isinstance(value, list)
        else value
        for key, value in asked.items()
    }


def test_datastore_search_answers_in_each_records_format_and_refuses_distinct(operator, hub_url):
    operator.action.package_create(**new_package())
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"}, schema="air-quality-observation", records=ROWS
    )
    search = ckanapi.RemoteCKAN(hub_url).action.datastore_search
    asked = {"resource_id": pushed["resource_id"], "fields": ["station_id", "value"], "limit": 2}
    assert search(**asked, records_format="lists")["records"] == [
        ["FR-PUSH-01", 21.5],
        ["FR-PUSH-01", 22.5],
    ]
    assert search(**asked, records_format="csv")["records"] == "FR-PUSH-01,21.5\nFR-PUSH-01,22.5\n"
    assert (
        search(**asked, records_format="tsv")["records"] == "FR-PUSH-01\t21.5\nFR-PUSH-01\t22.5\n"
    )
    for bad in (
        {"records_format": "xml"},
        {"distinct": True},
        {"distinct": "True"},
        {"plain": "false"},
    ):
        with pytest.raises(ckanapi.ValidationError):
            search(**asked, **bad)
    with pytest.raises(ckanapi.ValidationError) as refused:
        search(**asked, sort="colour desc")
    assert "filters" not in refused.value.error_dict
    assert "'colour desc'" in refused.value.error_dict["sort"][0]


def test_datastore_search_finds_words_in_rows(operator, hub_url):
    """CKAN's `q`: words inside any field's text, or inside named fields, whatever the case;
    LIKE's own wildcards in a word match only themselves."""
    operator.action.package_create(**new_package())
    rows = [
        {**ROWS[0], "station_id": "FR-PUSH-02", "station_name": "Place de la République"},
        {**ROWS[1], "station_name": "Gare_Nord 100%"},
        *ROWS[2:],
    ]
    pushed = operator.action.datastore_create(
        resource={"package_id": "push-air-rennes"}, schema="air-quality-observation", records=rows
    )
    search = ckanapi.RemoteCKAN(hub_url).action.datastore_search

    def names(**asked: object) -> list[str]:
        found = search(resource_id=pushed["resource_id"], **asked)
        assert found["total"] == len(found["records"])
        return sorted(r["station_name"] for r in found["records"])

    assert names(q="GARE") == ["Gare", "Gare", "Gare", "Gare", "Gare_Nord 100%"]
    assert names(q="place république") == ["Place de la République"]  # every word, any order
    assert names(q="push-02") == ["Place de la République"]  # in another field
    assert names(q="gare_") == ["Gare_Nord 100%"] and names(q="100%") == ["Gare_Nord 100%"]
    assert names(q="gare%nord") == []
    assert names(q={"station_id": "push-02"}) == ["Place de la République"]
    assert names(q={"station_name": "push-02"}) == []
    assert names(q='{"pollutant": "NO2"}', filters={"station_id": "FR-PUSH-02"}) == [
        "Place de la République"
    ]
    assert names(q="25.5") == ["Gare"]  # a number's text
    assert names(q="nowhere") == []


def test_datastore_search_opens_no_more_than_the_charter(hub_url, published, engine):
    anonymous = ckanapi.RemoteCKAN(hub_url)
    personal = anonymous.action.package_show(id=published.closed["personal"])
    records = next(r for r in personal["resources"] if r["resource_type"] == "api")
    with pytest.raises(ckanapi.NotAuthorized):
        anonymous.action.datastore_search(resource_id=records["id"])
    open_data = anonymous.action.package_show(id=published.open_id)
    open_records = next(r for r in open_data["resources"] if r["resource_type"] == "api")
    assert anonymous.action.datastore_search(resource_id=open_records["id"])["total"] > 0


def test_a_package_whose_metadata_passes_the_caps_is_refused_with_the_limit(operator):
    with pytest.raises(ckanapi.ValidationError) as refused:
        operator.action.package_create(**new_package(notes="x" * 20_001))
    assert "at most 20,000 characters" in str(refused.value.error_dict["notes"])
    operator.action.package_create(**new_package())
    many = [{"name": f"tag{n}"} for n in range(101)]
    with pytest.raises(ckanapi.ValidationError) as refused:
        operator.action.package_patch(id="push-air-rennes", tags=many)
    assert "at most 100 keywords" in str(refused.value.error_dict["tags"])
    with pytest.raises(ckanapi.ValidationError):
        operator.action.package_update(**new_package(title="T" * 301))
    assert operator.action.package_show(id="push-air-rennes")["title"] == "Capteurs poussés, Rennes"
