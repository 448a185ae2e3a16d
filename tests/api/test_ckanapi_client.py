"""The real ckanapi client (library and command line) against the hub running under uvicorn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ckanapi
import pytest
from api.support import live_server

ALL = {
    "atmo-demo-air",
    "atmo-demo-restricted-air",
    "atmo-demo-personal-air",
    "atmo-demo-crisis-air",
    "openaq-toronto-pm25",
    "sensor-community-aberdeen",
}


@pytest.fixture
def hub_url(engine, published, sampled):
    with live_server() as url:
        yield url


@pytest.mark.parametrize("get_only", [False, True])
def test_ckanapi_reads_the_catalogue(hub_url, get_only):
    ckan = ckanapi.RemoteCKAN(hub_url, user_agent="hub-tests", get_only=get_only)
    assert set(ckan.action.package_list()) == ALL
    package = ckan.action.package_show(
        id="openaq-toronto-pm25",
        include_datasets=False,
        include_password_hash=True,
        include_users=False,
    )
    assert package["organization"]["name"] == "openaq"
    # CKAN's own id for CC BY (the charter's CC-BY-4.0 stays in license_title and license_url)
    assert package["license_id"] == "cc-by" and package["num_resources"] == 1
    assert package["resources"][0]["url"].startswith(hub_url)
    status = ckan.action.status_show()
    assert status["site_url"] == hub_url and status["ckan_version"]
    assert ckan.action.organization_list() == ["atmo-demo", "openaq", "sensor-community"]
    full = ckan.action.organization_list(all_fields=True)
    assert {o["name"]: o["package_count"] for o in full} == {
        "atmo-demo": 4,
        "openaq": 1,
        "sensor-community": 1,
    }


def test_ckanapi_pages_package_search_with_rows_and_start(hub_url):
    ckan = ckanapi.RemoteCKAN(hub_url, user_agent="hub-tests")
    seen, start = [], 0
    while True:
        page = ckan.action.package_search(rows=4, start=start, sort="id asc")
        assert page["count"] == len(ALL)
        if not page["results"]:
            break
        seen += [p["name"] for p in page["results"]]
        start += 4
    assert seen == sorted(ALL)
    filtered = ckan.action.package_search(
        fq="organization:openaq OR organization:atmo-demo", **{"facet.field": ["organization"]}
    )
    assert filtered["count"] == 5
    assert filtered["facets"]["organization"] == {"atmo-demo": 4, "openaq": 1}


@pytest.mark.parametrize("get_only", [False, True])
def test_ckanapi_searches_as_harvesters_do(hub_url, get_only):
    """ckanext-harvest's "changed since", ckanext-dcat's `+dataset_type:dataset`, no facets."""
    ckan = ckanapi.RemoteCKAN(hub_url, user_agent="hub-tests", get_only=get_only)
    changed = ckan.action.package_search(
        fq="+dataset_type:dataset metadata_modified:[NOW-1DAY TO NOW]",
        fq_list=["+state:active +site_id:default", "private:false"],
        rows=100,
        facet=False,
    )
    assert {p["name"] for p in changed["results"]} == ALL
    assert changed["facets"] == {} and changed["search_facets"] == {}
    assert ckan.action.package_search(fq="metadata_modified:{NOW TO *]")["count"] == 0
    opened = ckan.action.package_search(fq="isopen:true +entity_type:package", rows=100)
    assert {p["name"] for p in opened["results"]} == {
        p["name"] for p in changed["results"] if p["isopen"]
    }
    with pytest.raises(ckanapi.SearchQueryError) as bad:
        ckan.action.package_search(fq="metadata_modified:[garbage TO *]")
    assert "garbage" in str(bad.value)


def test_ckanapi_maps_every_error(hub_url):
    ckan = ckanapi.RemoteCKAN(hub_url, user_agent="hub-tests")
    with pytest.raises(ckanapi.NotFound) as missing:
        ckan.action.package_show(id="no-such-dataset")
    assert "no-such-dataset" in str(missing.value.args[0])
    with pytest.raises(ckanapi.NotFound):
        ckan.action.organization_show(id="nobody")
    with pytest.raises(ckanapi.ValidationError) as invalid:
        ckan.action.package_show()
    assert invalid.value.error_dict["name_or_id"] == ["Missing value"]
    with pytest.raises(ckanapi.SearchQueryError):
        ckan.action.package_search(fq="(organization:openaq")
    with pytest.raises(ckanapi.NotAuthorized):
        ckan.action.package_create(name="new-dataset", owner_org="openaq")
    with pytest.raises(ckanapi.CKANAPIError) as unknown:
        ckan.call_action("no_such_action")
    assert "Action name not known" in str(unknown.value)


def test_the_ckanapi_command_dumps_every_dataset(hub_url, tmp_path: Path):
    output = tmp_path / "datasets.jsonl"
    scripts = Path(sys.executable).parent
    command = [
        str(scripts / "ckanapi"),
        "dump",
        "datasets",
        "--all",
        "-r",
        hub_url,
        "-O",
        str(output),
        "-p",
        "1",
        "-q",
    ]
    # the command starts its workers as `ckanapi` from PATH
    path = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "PATH": path}
    )
    assert done.returncode == 0, done.stderr
    dumped = [json.loads(line) for line in output.read_text().splitlines()]
    assert {d["name"] for d in dumped} == ALL
    assert all(d["resources"] and d["organization"] for d in dumped)


@pytest.mark.parametrize("get_only", [False, True])
def test_ckanapi_with_an_apikey_sees_what_its_token_grants(hub_url, engine, get_only):
    from api.support import bearer

    token = bearer(engine, "agency", "metropole-civil-protection")["Authorization"].split()[1]
    member = ckanapi.RemoteCKAN(hub_url, apikey=token, user_agent="hub-tests", get_only=get_only)
    package = member.action.package_show(id="atmo-demo-restricted-air")
    assert {e["key"]: e["value"] for e in package["extras"]}["record_count"] == "144"
    anonymous = ckanapi.RemoteCKAN(hub_url, user_agent="hub-tests", get_only=get_only)
    hidden = anonymous.action.package_show(id="atmo-demo-restricted-air")
    assert "record_count" not in {e["key"] for e in hidden["extras"]}
    forged = ckanapi.RemoteCKAN(
        hub_url, apikey=token[:-2] + "xx", user_agent="hub-tests", get_only=get_only
    )
    with pytest.raises(ckanapi.NotAuthorized):
        forged.action.package_show(id="atmo-demo-restricted-air")


def ckanapi_command(*args: str) -> subprocess.CompletedProcess[str]:
    scripts = Path(sys.executable).parent
    path = os.pathsep.join([str(scripts), os.environ.get("PATH", "")])
    return subprocess.run(
        [str(scripts / "ckanapi"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PATH": path},
    )


def test_the_ckanapi_command_calls_actions_and_searches(hub_url):
    shown = ckanapi_command("action", "package_show", "id=openaq-toronto-pm25", "-r", hub_url)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["organization"]["name"] == "openaq"
    found = ckanapi_command("search", "datasets", "q=pm25", "fq=organization:openaq", "-r", hub_url)
    assert found.returncode == 0, found.stderr
    names = [json.loads(line)["name"] for line in found.stdout.splitlines() if line.strip()]
    assert names == ["openaq-toronto-pm25"]
    every = ckanapi_command("search", "datasets", "-r", hub_url)
    assert every.returncode == 0, every.stderr
    assert {json.loads(line)["name"] for line in every.stdout.splitlines()} == ALL


def test_the_ckanapi_command_dumps_no_users_from_a_hub_without_accounts(hub_url):
    dumped = ckanapi_command("dump", "users", "--all", "-r", hub_url)
    assert dumped.returncode == 0, dumped.stderr
    assert dumped.stdout.strip() == ""
    with pytest.raises(ckanapi.NotFound):
        ckanapi.RemoteCKAN(hub_url).action.user_show(id="admin")
