"""A parameter FastAPI checks by its type is refused like every other: a 400 whose `detail`
names it and says why, never FastAPI's 422 (hub.api.invalid); pages answer a page, CKAN's
routes CKAN's Validation Error, and the OpenAPI document says so."""

from __future__ import annotations

import json

import pytest

OPEN = "atmo-demo-air"


@pytest.mark.parametrize(
    ("url", "words"),
    [
        (
            f"/api/v1/datasets/{OPEN}/records?format=xml",
            "format must be 'json', 'csv', 'geojson' or 'xlsx'",
        ),
        ("/api/v1/alerts.atom?status=bogus", "status must be 'Actual'"),
        ("/catalog.jsonld?page=abc", "page must be a valid integer"),
        ("/api/v1/datasets?limit=abc", "limit must be a valid integer"),
    ],
)
def test_a_typed_parameter_of_the_wrong_kind_is_a_400_naming_it(client, url, words):
    response = client.get(url)
    assert response.status_code == 400, response.text
    body = response.json()
    assert words in body["detail"]
    assert body["detail"].endswith("')") and "(got '" in body["detail"]
    name = words.split()[0]
    assert [error["loc"][-1] for error in body["errors"]] == [name]


def test_the_value_sent_is_quoted_clipped_and_never_echoed_whole(client):
    value = "x" * 5_000
    response = client.get(f"/api/v1/datasets/{OPEN}/records", params={"format": value})
    assert response.status_code == 400
    assert value not in response.text
    assert "xxx…" in response.json()["detail"]
    assert "input" not in response.json()["errors"][0]


def test_a_page_asked_for_by_a_browser_answers_a_page_in_its_language(client):
    headers = {"Accept": "text/html,application/xhtml+xml", "Accept-Language": "fr"}
    response = client.get("/situation?page=abc", headers=headers)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "Cette adresse demande ce que la page ne peut pas afficher" in response.text
    assert "page must be a valid integer" in response.text
    assert "(got &#39;abc&#39;)" in response.text  # the value quoted, escaped


def test_a_page_route_asked_for_by_a_script_answers_json(client):
    response = client.get("/situation?page=abc", headers={"Accept": "application/json"})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("page must be")


def test_a_ckan_action_keeps_ckans_validation_error(client):
    response = client.get("/api/3/action/package_search?rows=many")
    assert response.status_code in (400, 409)
    body = response.json()
    assert body["success"] is False and "__type" in body["error"]


def test_the_openapi_document_says_400_where_fastapi_said_422(client):
    document = client.get("/openapi.json").json()
    text = json.dumps(document)
    assert '"422"' not in text
    assert "HTTPValidationError" not in text
    records = document["paths"]["/api/v1/datasets/{dataset_id}/records"]["get"]["responses"]
    schema = records["400"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["detail"]
    for operations in document["paths"].values():
        for operation in operations.values():
            for response in operation["responses"].values():
                for content in response.get("content", {}).values():
                    ref = content.get("schema", {}).get("$ref", "")
                    name = ref.rsplit("/", 1)[-1]
                    assert not ref or name in document["components"]["schemas"], ref


BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", "Accept-Language": "fr"}


@pytest.mark.parametrize("path", ["/nonexistent", "/organisations", "/datasets/a/b"])
def test_an_unknown_address_asked_for_by_a_browser_is_a_page_in_its_language(client, path):
    response = client.get(path, headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["content-language"] == "fr"
    html = response.text
    assert '<html lang="fr">' in html
    assert "<title>Erreur\u00a0: Introuvable — Hub territorial de données</title>" in html
    assert "<h1>Aucune page à cette adresse</h1>" in html
    assert f"l’adresse {path}\u00a0:" in html
    assert '<nav aria-label="Site">' in html and 'href="/organizations"' in html


def test_the_address_is_escaped_on_the_404_page(client):
    response = client.get("/%3Cscript%3Ealert(1)%3C/script%3E", headers=BROWSER)
    assert response.status_code == 404
    assert "<script>alert" not in response.text and "&lt;script&gt;alert(1)" in response.text


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/nonexistent", "*/*"),  # curl, httpx
        ("/nonexistent", "application/json"),
        ("/api/v1/nonexistent", BROWSER["Accept"]),
        ("/api/v1/datasets/nonexistent", BROWSER["Accept"]),
        ("/static/nonexistent.css", BROWSER["Accept"]),
        ("/docs/nonexistent", BROWSER["Accept"]),
        ("/catalog.nonexistent", BROWSER["Accept"]),
    ],
)
def test_an_unknown_address_of_the_api_stays_json(client, path, accept):
    response = client.get(path, headers={"Accept": accept})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()


def test_an_unknown_ckan_address_keeps_ckans_envelope_for_a_browser(client):
    response = client.get("/api/3/nonexistent", headers=BROWSER)
    assert response.status_code == 404
    assert response.json()["error"]["__type"] == "Not Found Error"


@pytest.mark.parametrize("url", ["/situation?page=abc", "/no-such-page"])
def test_an_answer_chosen_by_accept_says_so_to_caches(client, url):
    """A page for a browser, JSON for a script, at the same address: `Vary: Accept` on both, so
    that a shared cache never hands one to the other."""
    for accept in ("text/html", "application/json"):
        response = client.get(url, headers={"Accept": accept})
        assert response.status_code in (400, 404)
        assert "accept" in response.headers["vary"].lower().split(", "), (accept, response.headers)
    api = client.get(f"/api/v1/datasets/{OPEN}/records?format=xml")
    assert "accept" not in api.headers.get("vary", "").lower()  # one answer whatever Accept says
