"""CKAN's datastore_delete through the real ckanapi client: an operator withdraws wrong rows, and
they leave the record table, the feed's event log, the dataset's counts; the withdrawal is a run
of the dataset and a `dataset` event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ckanapi
import pytest
import sqlalchemy as sa
from api.support import bearer, live_server
from sqlmodel import Session, col, select

from hub import catalogue, tokens
from hub.models import Event
from hub.pseudonyms import pseudonym

HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def rows(station: str, hours: int = 3, value: float = 20.0) -> list[dict]:
    """Recent hourly readings of a station (recent: the feed's log carries them)."""
    return [
        {
            "station_id": station,
            "station_name": "Gare",
            "pollutant": "no2",
            "value": value + hour,
            "unit": "µg/m³",
            "averaging_period": "PT1H",
            "observed_at": f"{HOUR - timedelta(hours=hour + 1):%Y-%m-%dT%H:%M:%SZ}",
            "longitude": -1.68,
            "latitude": 48.11,
            "quality_flag": "valid",
        }
        for hour in range(hours)
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


def pushed(operator, name: str, charter: str, records: list[dict]) -> str:
    """A new package of `charter` with `records` pushed; its records resource's id."""
    operator.action.package_create(
        name=name,
        title="Pushed sensors",
        owner_org="atmo-demo",
        groups=[{"name": "air-quality"}],
        extras=[{"key": "charter", "value": charter}],
    )
    created = operator.action.datastore_create(
        resource={"package_id": name}, schema="air-quality-observation", records=records
    )
    assert created["published"] == len(records)
    return created["resource_id"]


def logged(engine, dataset_id: str) -> list[Event]:
    with Session(engine) as session:
        found = select(Event).where(Event.dataset_id == dataset_id).order_by(col(Event.id))
        return list(session.exec(found).all())


def observations(engine, dataset_id: str) -> list[Event]:
    return [e for e in logged(engine, dataset_id) if e.kind == "observation"]


def latest_run(engine, dataset_id: str):
    with Session(engine) as session:
        return catalogue.runs_of(session, dataset_id, limit=1)[0]


def test_an_operator_withdraws_rows_pushed_for_a_wrong_station(operator, hub_url, engine):
    resource_id = pushed(operator, "push-air", "atmo-demo-open", rows("FR-1") + rows("FR-2"))
    fixed = operator.action.datastore_upsert(  # a wrong value corrected: its event stays logged
        resource_id=resource_id, records=[{**rows("FR-2")[0], "value": 99}]
    )
    assert fixed["updated"] == 1
    observed = [e.payload["record"]["station_id"] for e in observations(engine, "push-air")]
    assert sorted(observed) == ["FR-1"] * 3 + ["FR-2"] * 4
    done = operator.action.datastore_delete(
        resource_id=resource_id, filters={"station_id": "FR-2"}, force=True
    )
    assert done == {
        "resource_id": resource_id,
        "filters": {"station_id": "FR-2"},
        "deleted": 3,
        "run": done["run"],
    }
    reader = ckanapi.RemoteCKAN(hub_url)
    found = reader.action.datastore_search(resource_id=resource_id)
    assert found["total"] == 3 and {r["station_id"] for r in found["records"]} == {"FR-1"}
    package = reader.action.package_show(id="push-air")
    assert [r["record_count"] for r in package["resources"] if r["id"] == resource_id] == [3]
    # the feed's log forgets them (the corrected value too) and says a withdrawal happened
    events = logged(engine, "push-air")
    kept = [e.payload["record"]["station_id"] for e in observations(engine, "push-air")]
    assert kept == ["FR-1"] * 3
    assert (events[-1].kind, events[-1].payload["withdrawn"]) == ("dataset", 3)
    assert events[-1].payload["run"] == done["run"]
    run = latest_run(engine, "push-air")
    assert (run.id, run.status) == (done["run"], "succeeded")
    assert run.error.startswith("withdrawal: 3 rows withdrawn (rows where station_id matched)")
    assert run.error.endswith(f"by token {token_id(engine, operator)}")


def token_id(engine, operator) -> str:
    with Session(engine) as session:
        return tokens.check(session, operator.apikey).id


def test_a_personal_dataset_is_withdrawn_from_by_the_key_as_pushed(operator, hub_url, engine):
    resource_id = pushed(
        operator, "push-personal", "atmo-demo-personal", rows("FR-1") + rows("FR-2")
    )
    done = operator.action.datastore_delete(
        resource_id=resource_id, filters={"station_id": [" FR-2 "]}
    )
    assert done["deleted"] == 3
    with Session(engine) as session:
        layout = catalogue.layout_of(catalogue.resource_of(session, "push-personal"))
    with engine.connect() as connection:
        left = connection.execute(sa.select(layout.table.c.station_id)).scalars().all()
    assert left == [pseudonym("atmo-demo", "FR-1")] * 3
    stations = {e.payload["record"]["station_id"] for e in observations(engine, "push-personal")}
    assert stations == {pseudonym("atmo-demo", "FR-1")}
    run = latest_run(engine, "push-personal")
    assert "FR-2" not in run.error and pseudonym("atmo-demo", "FR-2") not in run.error
    # a pseudonym the operator read back names its subject (it is not pseudonymised again)
    done = operator.action.datastore_delete(
        resource_id=resource_id, filters={"station_id": pseudonym("atmo-demo", "FR-1")}
    )
    assert done["deleted"] == 3


def test_every_row_is_withdrawn_only_when_asked_so(operator, engine):
    resource_id = pushed(operator, "push-air", "atmo-demo-open", rows("FR-1"))
    with pytest.raises(ckanapi.ValidationError) as missing:  # CKAN would drop the whole table
        operator.action.datastore_delete(resource_id=resource_id)
    assert "Missing value" in missing.value.error_dict["filters"][0]
    assert operator.action.datastore_search(resource_id=resource_id)["total"] == 3
    done = operator.action.datastore_delete(resource_id=resource_id, filters={})
    assert done["deleted"] == 3
    assert operator.action.datastore_search(resource_id=resource_id)["total"] == 0
    assert [e.kind for e in logged(engine, "push-air")][-1] == "dataset"
    assert observations(engine, "push-air") == []
    again = operator.action.datastore_upsert(resource_id=resource_id, records=rows("FR-1"))
    assert again["published"] == 3  # the resource and its schema stay


def test_withdrawals_the_hub_cannot_take_are_refused_and_change_nothing(hub_url, engine, operator):
    resource_id = pushed(operator, "push-air", "atmo-demo-open", rows("FR-1"))
    others = [
        ckanapi.RemoteCKAN(hub_url),
        ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "operator", "openaq")),
        ckanapi.RemoteCKAN(hub_url, apikey=token(engine, "agency", "atmo-demo")),
    ]
    for other in others:
        with pytest.raises(ckanapi.NotAuthorized):
            other.action.datastore_delete(resource_id=resource_id, filters={})
    with pytest.raises(ckanapi.ValidationError) as unknown:
        operator.action.datastore_delete(resource_id=resource_id, filters={"colour": "red"})
    assert unknown.value.error_dict["filters"] == ['field "colour" not in table']
    with pytest.raises(ckanapi.ValidationError) as untyped:
        operator.action.datastore_delete(resource_id=resource_id, filters={"value": "high"})
    assert "value" in untyped.value.error_dict["filters"][0]
    with pytest.raises(ckanapi.ValidationError):
        operator.action.datastore_delete(resource_id=resource_id, filters=["station_id"])
    with pytest.raises(ckanapi.NotFound):
        operator.action.datastore_delete(resource_id="no-such-resource", filters={})
    assert operator.action.datastore_search(resource_id=resource_id)["total"] == 3
    refused = latest_run(engine, "push-air")  # the gate records every outcome
    assert (refused.status, refused.error) == ("refused", "withdrawal: " + untyped_reason(untyped))


def untyped_reason(raised) -> str:
    return raised.value.error_dict["filters"][0]
