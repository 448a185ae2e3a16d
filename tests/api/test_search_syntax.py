"""Queries outside what the search reads are answered plainly: words without a letter find
nothing (REST, CKAN and the UI alike), a Solr boost changes no match, and fuzzy terms, unknown
fields and unterminated phrases are CKAN's `Search Query Error`, as Solr's 400."""

from __future__ import annotations

import pytest
from api.test_ckan_search import ALL, names, search
from sqlalchemy import select
from sqlmodel import Session

from hub.searchindex import INDEX_FIELDS, searchfield

WORDLESS = ["😀", "\\", "—", "&|!", " — "]


@pytest.mark.parametrize("q", WORDLESS)
def test_words_without_a_letter_find_nothing_on_both_apis(client, sampled, q):
    rest = client.get("/api/v1/datasets", params={"q": q})
    assert rest.status_code == 200 and rest.json()["count"] == 0, rest.text
    assert search(client, q=q, rows=100)["count"] == 0
    # beside a word, it is punctuation between words, as in `PM2.5 — Toronto`
    beside = client.get("/api/v1/datasets", params={"q": f"toronto {q}"}).json()
    assert beside["count"] == 1


def test_blank_text_stays_no_query_and_wordless_alternatives_drop_out(client, sampled):
    assert client.get("/api/v1/datasets", params={"q": "  "}).json()["count"] == len(ALL)
    assert names(search(client, q="toronto OR 😀", rows=100)) == {"openaq-toronto-pm25"}
    assert names(search(client, q="-😀", rows=100)) == ALL


@pytest.mark.parametrize(
    ("boosted", "plain"),
    [
        ("toronto^4", "toronto"),
        ("title:toronto^2", "title:toronto"),
        ("organization:openaq^0.5", "organization:openaq"),
        ('title:"Air quality"^3', 'title:"Air quality"'),
        ("(toronto OR aberdeen)^2", "toronto OR aberdeen"),
        ("metadata_modified:[* TO NOW]^2", "*:*"),
    ],
)
def test_a_boost_weighs_ranking_only(client, sampled, boosted, plain):
    expected = names(search(client, q=plain, rows=100))
    assert expected and names(search(client, q=boosted, rows=100)) == expected


@pytest.mark.parametrize(
    ("params", "said"),
    [
        ({"q": "toronto~2"}, "fuzzy"),
        ({"q": "toronto~"}, "fuzzy"),
        ({"q": '"air quality"~3'}, "fuzzy"),
        ({"fq": "nosuchfield:x"}, "undefined field nosuchfield"),
        ({"q": "colour:red"}, "undefined field colour"),
        ({"fq": "extras_colour:red"}, "undefined field colour"),
        ({"q": '"unterminated'}, "unterminated phrase"),
        ({"fq": 'title:"air'}, "unterminated phrase"),
        ({"q": "toronto^"}, "bad boost"),
        ({"q": "toronto^x"}, "bad boost"),
        ({"q": "^2"}, "boosts nothing"),
    ],
)
def test_syntax_outside_the_subset_is_a_search_query_error(client, sampled, params, said):
    answer = client.get("/api/3/action/package_search", params=params)
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["__type"] == "Search Query Error" and said in error["message"]


def test_every_indexed_field_can_be_named(client, sampled, engine):
    with Session(engine) as session:
        indexed = set(session.execute(select(searchfield.c.field).distinct()).scalars())
    assert indexed and indexed <= INDEX_FIELDS
    for field in sorted(INDEX_FIELDS):
        answer = client.get("/api/3/action/package_search", params={"fq": f"{field}:*"})
        assert answer.status_code == 200, (field, answer.text)
