"""Purpose limitation for every non-open charter: a read that declares a purpose its charter does
not list is refused, on every read path (records and exports, CKAN's datastore_search, the
feed); a read that declares none goes on, unless the charter sets `purpose_required`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from api.support import bearer, client_for

from hub import crises
from hub.config import get_settings
from hub.models import utcnow

RESTRICTED, CRISIS = "atmo-demo-restricted-air", "atmo-demo-crisis-air"
AROUND_RENNES = {
    "type": "Polygon",
    "coordinates": [[[-1.8, 48.0], [-1.5, 48.0], [-1.5, 48.2], [-1.8, 48.2], [-1.8, 48.0]]],
}


def reads(client, dataset: str, headers: dict[str, str], purpose: str | None) -> list[tuple]:
    """Each read path's status and refusal text, for one purpose (None: none declared)."""
    asked = {} if purpose is None else {"purpose": purpose}
    search = {"resource_id": f"{dataset}-records", **asked}
    answers = [
        client.get(f"/api/v1/datasets/{dataset}/records", params=asked, headers=headers),
        client.get(
            f"/api/v1/datasets/{dataset}/records",
            params={"format": "csv"},
            headers={**headers, **({"X-Purpose": purpose} if purpose else {})},
        ),
        client.get(f"/api/v1/datasets/{dataset}/datapackage.zip", params=asked, headers=headers),
        client.post("/api/3/action/datastore_search", json=search, headers=headers),
    ]
    return [(answer.status_code, _why(answer)) for answer in answers]


def feed_refusal(client, dataset: str, headers: dict[str, str], purpose: str | None) -> tuple:
    """The feed's answer to a stream of `dataset` it must refuse (one it opened never ends)."""
    asked = {"dataset": dataset} | ({} if purpose is None else {"purpose": purpose})
    answer = client.get("/api/v1/feeds/stream", params=asked, headers=headers)
    return answer.status_code, _why(answer)


def _why(answer) -> str:
    if answer.status_code == 200:
        return ""
    body = answer.json()  # CKAN's error message starts "Access denied: "
    return body.get("detail") or body["error"]["message"].removeprefix("Access denied: ")


@pytest.fixture
def cell(engine, published) -> dict[str, str]:
    """A crisis cell's token, during a crisis over Rennes."""
    crises.declare(
        engine,
        name="Smog",
        area=AROUND_RENNES,
        start=utcnow() - timedelta(hours=1),  # rows it opens may be none: a grant all the same
        end=utcnow() + timedelta(days=1),
        cells=["cell-35"],
        by="test",
    )
    return bearer(engine, "crisis-cell", "cell-35")


def test_a_purpose_the_charter_does_not_list_is_refused_on_every_read_path(engine, published, cell):
    member = bearer(engine, "agency", "metropole-civil-protection")
    with client_for(engine) as client:
        for dataset, headers, bad in ((RESTRICTED, member, "marketing"), (CRISIS, cell, "resale")):
            refused = reads(client, dataset, headers, bad)
            expected = (
                f"purpose {bad!r} is not one that charter {dataset[:-4]} 2.1 allows for "
                f"{dataset!r}: testing"
            )
            assert refused == [(403, expected)] * 4, dataset
            assert feed_refusal(client, dataset, headers, bad) == (403, expected)
            # the charter's own purpose, or none declared (existing clients), read as before
            for purpose in ("testing", None):
                assert [s for s, _ in reads(client, dataset, headers, purpose)] == [200] * 4
        # The producer's operators read their own rows whatever they say; open data has no
        # purposes to keep to.
        operator = bearer(engine, "operator", "atmo-demo")
        assert [s for s, _ in reads(client, RESTRICTED, operator, "marketing")] == [200] * 4
        opened = client.get("/api/v1/datasets/atmo-demo-air/records?purpose=marketing")
        assert opened.status_code == 200
        # a refused purpose is logged as the refusal it is
        log = client.get("/api/v1/access-log", headers=operator).json()
        refusals = [e for e in log["entries"] if e["outcome"] == "denied"]
        assert any(e.get("purpose") == "marketing" for e in refusals), refusals[:3]


def test_a_charter_may_require_a_declared_purpose(engine, published):
    folder = Path(get_settings().charter_dirs[0])
    charter = folder / "atmo-demo-restricted.yaml"
    charter.write_text(charter.read_text() + "purpose_required: true\n", encoding="utf-8")
    member = bearer(engine, "agency", "metropole-civil-protection")
    with client_for(engine) as client:
        without = reads(client, RESTRICTED, member, None)
        expected = (
            f"charter atmo-demo-restricted 2.1 opens the records of {RESTRICTED!r} only for a "
            "declared purpose: add purpose= one of testing"
        )
        assert without == [(403, expected)] * 4
        assert feed_refusal(client, RESTRICTED, member, None) == (403, expected)
        assert [s for s, _ in reads(client, RESTRICTED, member, "testing")] == [200] * 4
