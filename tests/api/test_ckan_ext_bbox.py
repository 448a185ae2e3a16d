"""package_search's `ext_bbox` (ckanext-spatial): the datasets whose extent meets the box, as
the hub's own search's `bbox` finds them."""

from __future__ import annotations

from api.support import CITY_BOX

SEARCH = "/api/3/action/package_search"


def names(client, **params) -> set[str]:
    answer = client.get(SEARCH, params={"rows": 1000, **params})
    assert answer.status_code == 200, answer.text
    return {p["name"] for p in answer.json()["result"]["results"]}


def own(client, **params) -> set[str]:
    body = client.get("/api/v1/datasets", params={"limit": 100, **params}).json()
    return {d["id"] for d in body["datasets"]}


def test_ext_bbox_keeps_the_datasets_the_box_meets(client) -> None:
    everything = names(client)
    inside = names(client, ext_bbox=CITY_BOX)
    assert inside and inside == own(client, bbox=CITY_BOX)
    assert names(client, ext_bbox="100,-10,101,-9") == set() != everything


def test_a_bad_ext_bbox_is_a_validation_error(client) -> None:
    answer = client.get(SEARCH, params={"ext_bbox": "3.7,43.5,4.0"})
    assert answer.status_code == 409
    assert "ext_bbox" in answer.json()["error"]
