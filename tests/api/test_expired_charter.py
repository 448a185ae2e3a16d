"""A dataset whose charter has ended: its closed records are refused (and the refusal logged),
the page says the charter expired, and `/charter` says what the file says now."""

from __future__ import annotations

from sqlmodel import Session, select

from hub import charters
from hub.models import AccessEvent
from tests.api.support import bearer

MEMBER = "metropole-civil-protection"


def edit_charter(tmp_path, level: str, old: str, new: str) -> None:
    path = tmp_path / "charters" / f"atmo-demo-{level}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")
    charters._listings.clear()  # read the edit now, not after STAMP_SECONDS


def test_restricted_records_are_refused_after_their_charter_expired(
    client, published, engine, tmp_path
):
    restricted = published.closed["restricted"]
    member = bearer(engine, "agency", MEMBER)
    assert client.get(f"/api/v1/datasets/{restricted}/records", headers=member).status_code == 200
    edit_charter(tmp_path, "restricted", '"2026-01-01"', '"2020-01-01"')
    edit_charter(tmp_path, "restricted", '"2030-12-31"', '"2021-12-31"')
    refused = client.get(f"/api/v1/datasets/{restricted}/records", headers=member)
    assert refused.status_code == 403 and "expired on 2021-12-31" in refused.text
    with Session(engine) as session:
        last = session.exec(select(AccessEvent).order_by(AccessEvent.id.desc())).first()
    assert last.outcome == "denied" and "expired on 2021-12-31" in last.reason
    operator = bearer(engine, "operator", "atmo-demo")
    assert client.get(f"/api/v1/datasets/{restricted}/records", headers=operator).status_code == 200
    assert client.get(f"/api/v1/datasets/{restricted}/charter").json()["in_force"] is False
    page = client.get(f"/datasets/{restricted}", headers={"Accept-Language": "en"}).text
    assert "My charter expired on" in page and "My records are no longer shared." in page
    assert "is valid until" not in page


def test_a_renewal_shares_the_records_again_on_the_next_request(
    client, published, engine, tmp_path
):
    restricted = published.closed["restricted"]
    member = bearer(engine, "agency", MEMBER)
    edit_charter(tmp_path, "restricted", '"2026-01-01"', '"2020-01-01"')
    edit_charter(tmp_path, "restricted", '"2030-12-31"', '"2021-12-31"')
    assert client.get(f"/api/v1/datasets/{restricted}/records", headers=member).status_code == 403
    old = tmp_path / "charters" / "atmo-demo-restricted.yaml"
    renewal = old.read_text(encoding="utf-8").replace('version: "2.1"', 'version: "2.2"')
    renewal = renewal.replace('"2020-01-01"', '"2022-01-01"').replace(
        '"2021-12-31"', '"2031-12-31"'
    )
    (old.parent / "atmo-demo-restricted@2.2.yaml").write_text(renewal, encoding="utf-8")
    charters._listings.clear()
    again = client.get(f"/api/v1/datasets/{restricted}/records", headers=member)
    assert again.status_code == 200 and again.json()["records"]
    document = client.get(f"/api/v1/datasets/{restricted}/charter").json()  # says the same
    assert (document["version"], document["in_force"], document["version_in_force"]) == (
        "2.1",
        True,
        "2.2",
    )


def test_the_charter_document_says_when_the_file_now_names_another_access_level(
    client, published, tmp_path
):
    restricted = published.closed["restricted"]
    assert client.get(f"/api/v1/datasets/{restricted}/charter").json()["file_access"] is None
    edit_charter(tmp_path, "restricted", "access: restricted", "access: crisis")
    document = client.get(f"/api/v1/datasets/{restricted}/charter").json()
    assert (document["access"], document["file_access"]) == ("restricted", "crisis")
