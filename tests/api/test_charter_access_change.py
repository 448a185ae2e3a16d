"""A new charter version that changes a dataset's access level: reads follow it from its first
day, on every path, and the next harvest moves the dataset to it (personal data excepted)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session

from hub import charterdays, charters
from hub.catalogue import PublishRefused, publish
from hub.config import PROJECT_ROOT
from hub.models import Dataset
from tests.api.support import air_batch, bearer, observation_rows

MEMBER = "metropole-civil-protection"
PUBLIC = "http://publications.europa.eu/resource/authority/access-right/PUBLIC"


def close_open_charter(folder: Path, version: str = "2.0") -> None:
    """atmo-demo-open in the territory folder, with a version from today restricted to MEMBER."""
    bundled = (PROJECT_ROOT / "charters" / "atmo-demo-open.yaml").read_text(encoding="utf-8")
    (folder / "atmo-demo-open.yaml").write_text(bundled, encoding="utf-8")
    today = charterdays.today().isoformat()
    closed = (
        bundled.replace('version: "1.0"', f'version: "{version}"')
        .replace("access: open", f"access: restricted\nrestricted_to: [{MEMBER}]")
        .replace('valid_from: "2026-01-01"', f'valid_from: "{today}"')
    )
    (folder / f"atmo-demo-open@{version}.yaml").write_text(closed, encoding="utf-8")
    charters._listings.clear()  # read the new files now, not after STAMP_SECONDS


def test_a_version_restricting_an_open_dataset_closes_its_rows_at_once(
    client, published, engine, tmp_path
):
    open_id = published.open_id
    assert client.get(f"/api/v1/datasets/{open_id}/records").status_code == 200
    close_open_charter(tmp_path / "charters")
    for path in ("records", "records?format=csv", "datapackage.zip"):
        refused = client.get(f"/api/v1/datasets/{open_id}/{path}")
        assert refused.status_code in (401, 403), path  # 401: anonymous, a token may read
    member = bearer(engine, "agency", MEMBER)  # allowed by both versions: open, then MEMBER
    assert client.get(f"/api/v1/datasets/{open_id}/records", headers=member).status_code == 200
    other = bearer(engine, "agency", "elsewhere")
    assert client.get(f"/api/v1/datasets/{open_id}/records", headers=other).status_code == 403
    # every description says it is no longer public
    assert client.get(f"/api/v1/datasets/{open_id}").json()["access"] == "restricted"
    shown = client.get("/api/3/action/package_show", params={"id": open_id}).json()["result"]
    extras = {extra["key"]: extra["value"] for extra in shown["extras"]}
    assert extras["access"] == "restricted" and shown["isopen"] is False
    assert PUBLIC not in client.get(f"/api/v1/datasets/{open_id}/dcat.ttl").text
    assert client.get(f"/api/v1/datasets/{open_id}/charter").json()["access"] == "restricted"


def test_the_next_harvest_moves_the_dataset_to_the_new_access_level(
    client, published, engine, tmp_path
):
    close_open_charter(tmp_path / "charters")
    run = publish(
        air_batch(published.open_id, "atmo-demo-open", "Air quality", observation_rows()),
        engine=engine,
    )
    assert run.status in ("success", "partial"), run.error
    with Session(engine) as session:
        stored = session.get(Dataset, published.open_id)
        assert (stored.access, stored.charter_version) == ("restricted", "2.0")
    assert client.get(f"/api/v1/datasets/{published.open_id}/records").status_code == 401
    member = bearer(engine, "agency", MEMBER)
    answer = client.get(f"/api/v1/datasets/{published.open_id}/records", headers=member)
    assert answer.status_code == 200 and answer.json()["records"]


def test_personal_records_cannot_change_access_level(published, engine, tmp_path):
    folder = tmp_path / "charters"
    personal = (folder / "atmo-demo-personal.yaml").read_text(encoding="utf-8")
    today = charterdays.today().isoformat()
    restricted = (
        personal.replace('version: "2.1"', 'version: "3.0"')
        .replace("access: personal", f"access: restricted\nrestricted_to: [{MEMBER}]")
        .replace("gdpr_sensitive: true", "gdpr_sensitive: false")
        .replace('valid_from: "2026-01-01"', f'valid_from: "{today}"')
    )
    restricted = (
        restricted[: restricted.index("personal_data:")]
        + restricted[restricted.index("mandatory_mention:") :]
    )
    (folder / "atmo-demo-personal@3.0.yaml").write_text(restricted, encoding="utf-8")
    charters._listings.clear()
    dataset_id = published.closed["personal"]
    with pytest.raises(PublishRefused, match="personal records cannot change access level"):
        run = publish(
            air_batch(dataset_id, "atmo-demo-personal", "Air quality", observation_rows()),
            engine=engine,
        )
        raise PublishRefused(run.error or "")
