"""What pages and the API say of a charter's term: the end its versions decide today (the one
reads are refused by), the version that takes over later, and the member list to its parties
only."""

from __future__ import annotations

from datetime import timedelta

from hub import charterdays, charters
from tests.api.support import bearer

MEMBER = "metropole-civil-protection"
EN = {"Accept-Language": "en"}


def add_version(tmp_path, version: str, start: str, end: str) -> None:
    """A new version of the restricted test charter (2.1 runs 2026-01-01 to 2030-12-31)."""
    folder = tmp_path / "charters"
    text = (folder / "atmo-demo-restricted.yaml").read_text(encoding="utf-8")
    text = text.replace('version: "2.1"', f'version: "{version}"')
    text = text.replace('"2026-01-01"', f'"{start}"').replace('"2030-12-31"', f'"{end}"')
    (folder / f"atmo-demo-restricted@{version}.yaml").write_text(text, encoding="utf-8")
    charters._listings.clear()  # read the new file now, not after STAMP_SECONDS


def test_a_version_ending_sooner_shows_its_end_where_reads_are_refused(
    client, published, engine, tmp_path
):
    today = charterdays.today()
    yesterday = today - timedelta(days=1)
    add_version(tmp_path, "2.2", f"{today - timedelta(days=30)}", f"{yesterday}")
    restricted = published.closed["restricted"]
    member = bearer(engine, "agency", MEMBER)
    refused = client.get(f"/api/v1/datasets/{restricted}/records", headers=member)
    assert refused.status_code == 403 and f"expired on {yesterday}" in refused.text
    document = client.get(f"/api/v1/datasets/{restricted}/charter").json()
    assert document["in_force"] is False and document["shared_until"] == f"{yesterday}"
    assert document["valid_until"] == "2030-12-31"  # 2.1's own text, beside the effective end
    page = client.get(f"/datasets/{restricted}", headers={**member, **EN}).text
    assert "My charter expired on" in page and "2030" not in page.split("My charter")[1][:80]
    assert "December 31, 2030" not in page


def test_a_version_taking_over_later_is_announced(client, published, tmp_path):
    today = charterdays.today()
    tomorrow = today + timedelta(days=1)
    add_version(tmp_path, "2.2", f"{tomorrow}", "2031-12-31")
    restricted = published.closed["restricted"]
    document = client.get(f"/api/v1/datasets/{restricted}/charter").json()
    assert document["shared_until"] == f"{today}"  # 2.1's terms end tonight
    upcoming = document["upcoming"]
    assert (upcoming["version"], upcoming["valid_from"], upcoming["access"]) == (
        "2.2",
        f"{tomorrow}",
        "restricted",
    )
    assert "restricted_to" not in upcoming
    page = client.get(f"/datasets/{restricted}", headers=EN).text
    assert "Next version" in page and "version 2.2 of my charter applies" in page


def test_the_member_list_is_shown_to_the_charter_s_parties_only(client, published, engine):
    restricted = published.closed["restricted"]
    for path in (f"/datasets/{restricted}", "/charters/atmo-demo-restricted"):
        assert MEMBER not in client.get(path, headers=EN).text, path
        other = bearer(engine, "agency", "elsewhere")
        assert MEMBER not in client.get(path, headers={**other, **EN}).text, path
        for party in (bearer(engine, "agency", MEMBER), bearer(engine, "operator", "atmo-demo")):
            assert MEMBER in client.get(path, headers={**party, **EN}).text, path
    assert MEMBER not in client.get(f"/api/v1/datasets/{restricted}/charter").text
