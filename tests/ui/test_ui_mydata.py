"""The citizen's "My data" page: signed in as a browser would, linking through its form against
the operator's matching service, their own rows only, consents with receipts, the access log;
and as an attacker: forms without the session's own token, another subject's links and rows."""

from __future__ import annotations

import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from api.subjects import (
    ALICE,
    BOB,
    CAROL,
    CURVES,
    GRID,
    HOURS,
    MORE_CURVES,
    OTHER_CURVES,
    World,
    rows_of,
    shown,
    world_fixture,  # noqa: F401 - the fixture
)
from api.support import client_for, live_server
from babel.dates import format_date
from fastapi.testclient import TestClient
from loadcurves import every_stored_text
from pagetext import Page, empty_navigations, form_token, sign_in
from sqlmodel import Session, select
from ui.test_accessibility import audit
from ui.test_ui_browser import ARGS, chromium  # noqa: F401 - the fixture

from hub import reading, tokens
from hub.models import Consent, SubjectLink
from hub.selfdata import attempts

ME = "/me"
ADVICE = "energy-saving-advice"
EN = {"Accept-Language": "en"}


def token_of(world: World, who: str) -> str:
    return world.headers[who]["Authorization"].removeprefix("Bearer ")


@contextmanager
def browser(engine, world: World, who: str) -> Iterator[TestClient]:
    """A browser signed in through the sign-in form as `who`."""
    with client_for(engine) as client:
        answer = sign_in(client, token_of(world, who))
        assert answer.status_code == 303, answer.text[:300]
        yield client


@pytest.fixture
def alice(engine, world):
    with browser(engine, world, "alice") as client:
        yield client


@pytest.fixture
def bob(engine, world):
    with browser(engine, world, "bob") as client:
        yield client


def my_page(client: TestClient, query: str = "", language: str = "en") -> str:
    response = client.get(f"{ME}{query}", headers={"Accept-Language": language})
    assert response.status_code == 200, response.text[:500]
    assert response.headers["cache-control"] == "private, no-store"
    return response.text


def words(text: str) -> str:
    return Page(text).words


def post(client: TestClient, url: str, data: dict, csrf: str | None = None):
    """POST a form of the page with the session's own token (unless another is given)."""
    token = form_token(my_page(client)) if csrf is None else csrf
    return client.post(url, data={"csrf": token, **data}, follow_redirects=False)


def link_form(client, dataset: str, household: tuple[str, str], csrf: str | None = None):
    """Fill in and send a dataset's link form."""
    fields = {"dataset": dataset, "m-meter_number": household[0], "m-postcode": household[1]}
    return post(client, "/me/links", fields, csrf)


def consent_form(client, datasets: list[str], csrf: str | None = None, **change: str):
    until = f"{datetime.now(UTC).date() + timedelta(days=30)}"
    fields = {"service": "energy-coach", "purpose": ADVICE, "expires": until, **change}
    return post(client, "/me/consents", {**fields, "datasets": datasets}, csrf)


def flash(answer) -> str:
    assert answer.status_code == 303, answer.text[:300]
    found = re.search(r"[?&]flash=([a-z-]+)", answer.headers["location"])
    assert answer.headers["location"].startswith("/me?") and found
    return found.group(1)


def account_of(engine, world: World, who: str) -> str:
    with Session(engine) as session:
        return tokens.check(session, token_of(world, who)).account


def links_of(engine, world: World, who: str) -> list[SubjectLink]:
    account = account_of(engine, world, who)
    with Session(engine) as session:
        return list(session.exec(select(SubjectLink).where(SubjectLink.account == account)).all())


def consents_of(engine, world: World, who: str) -> list[Consent]:
    account = account_of(engine, world, who)
    with Session(engine) as session:
        return list(session.exec(select(Consent).where(Consent.account == account)).all())


def form_of(page: str, dataset: str) -> str:
    """A dataset's link form in the page."""
    found = re.search(rf'<form [^>]*id="link-ds-{dataset}">.*?</form>', page, re.S)
    assert found, dataset
    return found.group(0)


def preview_values(text: str) -> set[str]:
    """The figures in the page's preview tables' value column (chart tables hold data-value)."""
    return set(re.findall(r'data-value="([^"]+)"', text))


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    answer = client.get(ME, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/signin?next=%2Fme"
    for url in ("/me/export", f"/me/datasets/{CURVES}/records.csv"):
        assert client.get(url, follow_redirects=False).status_code == 303
    refused = client.post("/me/links", data={"dataset": CURVES}, follow_redirects=False)
    assert refused.status_code == 303 and refused.headers["location"].startswith("/signin")


def test_other_roles_are_told_the_page_is_for_citizens(engine, world):
    with browser(engine, world, "operator") as client:
        answer = client.get(ME, headers=EN)
        assert answer.status_code == 403
        assert "This page is for citizens" in words(answer.text)
        assert "holds no personal data" in words(answer.text)
        assert client.get("/me/export").status_code == 403


def test_a_citizen_links_through_the_form_and_sees_only_their_rows(
    engine, world, alice, bob, caplog
):
    caplog.set_level(logging.DEBUG)
    page = my_page(alice)
    # the charter's matching data as labelled inputs, its rules as HTML attributes
    assert "Meter number" in words(page) and "Postcode" in words(page)
    meter = re.search(r'<input id="([^"]+)" name="m-meter_number"[^>]*>', page)
    assert meter and 'pattern="^[0-9]{14}$"' in meter.group(0) and "required" in meter.group(0)
    assert f'<label for="{meter.group(1)}">' in page
    assert "not linked to any dataset yet" in words(page)

    answer = link_form(alice, CURVES, ALICE)
    assert flash(answer) == "linked"
    assert ALICE[0] not in answer.headers["location"] and ALICE[1] not in answer.headers["location"]
    assert world.matching.calls == [
        {"dataset": CURVES, "matching": {"meter_number": ALICE[0], "postcode": ALICE[1]}}
    ]
    page = my_page(alice, "?flash=linked")
    text = words(page)
    assert "Your data is linked" in text and "Household load curves (test-curves)" in text
    assert f"Your {HOURS} newest rows" in text
    # Alice's figures (hour + .90), never Bob's (.10) or Carol's (.55)
    assert preview_values(page) == {f"{hour + 0.9:.1f}" for hour in range(HOURS)}
    for theirs in (world.of(GRID, BOB), world.of(GRID, CAROL), world.of(GRID, ALICE)):
        assert theirs not in page  # the pseudonym column is not shown, nobody's
    assert "Who used my data" in text and re.search(r"\bYou\b", text)
    # columns named for people, by the schema's titles, their field names kept beneath
    assert 'Period start</span><br><code class="sub">period_start</code>' in page
    assert re.search(r'<th scope="col">Value( \([^)]*\))?</th>', page)  # the chart's table

    csv_answer = alice.get(f"/me/datasets/{CURVES}/records.csv")
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith(
        "text/csv"
    )
    assert csv_answer.headers["cache-control"] == "private, no-store"
    rows = list(csv.DictReader(io.StringIO(csv_answer.text)))
    assert len(rows) == HOURS and {r["subject_key"] for r in rows} == {world.of(GRID, ALICE)}

    export = alice.get("/me/export")
    assert export.status_code == 200 and export.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(export.content)) as archive:
        names = archive.namelist()
        (data,) = [n for n in names if n.startswith("data/")]
        exported = list(csv.DictReader(io.StringIO(archive.read(data).decode())))
    assert "datapackage.json" in names and "access-log.csv" in names
    assert {r["subject_key"] for r in exported} == {world.of(GRID, ALICE)}

    # Bob, signed in beside her, is linked to nothing and sees nothing of hers
    bobs = my_page(bob)
    assert "not linked to any dataset yet" in words(bobs)
    assert not preview_values(bobs)
    assert bob.get(f"/me/datasets/{CURVES}/records.csv").status_code == 404

    # the matching values are in no page, no stored table, no log line
    stored = every_stored_text(engine)
    for value in ALICE:  # as numbers of their own: a time's microseconds may hold "35000"
        assert not shown(value, page) and not shown(value, bobs)
        assert not shown(value, caplog.text)
    assert ALICE[0] not in stored
    with engine.connect() as connection:
        kept = " ".join(
            str(row)
            for table in ("subjectlink", "linkattempt", "accessevent", "apitoken")
            for row in connection.execute(sa.text(f"SELECT * FROM {table}")).all()
        )
    assert not shown(ALICE[0], kept) and not shown(ALICE[1], kept)


def test_a_wrong_answer_and_no_data_look_the_same(engine, world, alice):
    wrong_postcode = link_form(alice, CURVES, (ALICE[0], "35999"))
    unknown_meter = link_form(alice, CURVES, ("30000000000000", ALICE[1]))
    assert flash(wrong_postcode) == flash(unknown_meter) == "link-nomatch"
    assert wrong_postcode.headers["location"] == unknown_meter.headers["location"]
    page = my_page(alice, wrong_postcode.headers["location"].removeprefix(ME).split("#")[0])
    assert "found no data for these details" in words(page)
    assert 'role="alert"' in page
    assert not any(shown(value, page) for value in (ALICE[0], "35999", "30000000000000"))
    assert links_of(engine, world, "alice") == []


def test_ill_formed_details_are_flagged_on_their_field_and_never_sent(world, alice):
    answer = link_form(alice, CURVES, ("3000123456789X", ALICE[1]))
    assert flash(answer) == "link-bad"
    assert "bad=meter_number" in answer.headers["location"]
    assert world.matching.calls == []
    page = my_page(alice, answer.headers["location"].removeprefix(ME).split("#")[0])
    form = form_of(page, CURVES)
    meter = re.search(r'<input id="([^"]+)" name="m-meter_number"[^>]*>', form)
    assert meter and 'aria-invalid="true"' in meter.group(0)
    described = re.search(r'aria-describedby="([^"]+)"', meter.group(0))
    assert described and f"{meter.group(1)}-error" in described.group(1).split()
    assert f'id="{meter.group(1)}-error"' in form and 'role="alert"' in form
    postcode = re.search(r'name="m-postcode"[^>]*>', form)
    assert postcode and "aria-invalid" not in postcode.group(0)
    assert "3000123456789X" not in page and "missing or not in the expected form" in words(form)
    assert 'aria-invalid="true"' not in form_of(page, OTHER_CURVES)


def test_the_postcode_is_autofilled_and_the_meter_number_is_not(alice):
    form = form_of(my_page(alice), CURVES)
    postcode = re.search(r'<input [^>]*name="m-postcode"[^>]*>', form)
    meter = re.search(r'<input [^>]*name="m-meter_number"[^>]*>', form)
    assert postcode and 'autocomplete="postal-code"' in postcode.group(0)
    assert meter and 'autocomplete="off"' in meter.group(0)


def test_link_attempts_through_the_page_are_limited_as_through_the_api(world, alice, monkeypatch):
    monkeypatch.setattr(attempts, "PER_ACCOUNT", attempts.Limit(2, timedelta(hours=1)))
    codes = [flash(link_form(alice, CURVES, (ALICE[0], "35001"))) for _ in range(3)]
    assert codes == ["link-nomatch", "link-nomatch", "link-throttled"]
    assert len(world.matching.calls) == 2
    assert flash(link_form(alice, CURVES, ALICE)) == "link-throttled"


def test_forms_without_the_sessions_own_token_change_nothing(engine, world, alice, bob):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(consent_form(alice, [CURVES])) == "consent-given"
    (link_row,) = links_of(engine, world, "alice")
    (given,) = consents_of(engine, world, "alice")
    bobs_token = form_token(my_page(bob))
    attempts_ = [
        ("/me/links", {"dataset": MORE_CURVES, "m-meter_number": ALICE[0], "m-postcode": ALICE[1]}),
        (f"/me/links/{link_row.id}/delete", {}),
        ("/me/consents/" + given.id + "/revoke", {}),
        ("/me/consents", {"service": "snoop", "datasets": [CURVES], "purpose": ADVICE}),
    ]
    calls = len(world.matching.calls)
    for url, data in attempts_:
        for forged in ({}, {"csrf": bobs_token}, {"csrf": "x" * 43}, {"csrf": "é" * 43}):
            answer = alice.post(url, data={**data, **forged}, follow_redirects=False, headers=EN)
            assert answer.status_code == 400, (url, forged)
            assert "nothing was changed" in words(answer.text)
    assert len(world.matching.calls) == calls
    assert [r.id for r in links_of(engine, world, "alice")] == [link_row.id]
    (still,) = consents_of(engine, world, "alice")
    assert still.revoked_at is None and still.service_id == "energy-coach"
    # a bearer token (no session, so no form token) posts no form either
    bearer = alice.post(
        "/me/consents/" + given.id + "/revoke",
        data={"csrf": ""},
        headers=world.headers["alice"],
        follow_redirects=False,
    )
    assert bearer.status_code == 400 and consents_of(engine, world, "alice")[0].revoked_at is None


def test_another_subjects_session_never_sees_or_touches_the_first_ones(engine, world, alice, bob):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(link_form(alice, MORE_CURVES, ALICE)) == "linked"
    given = consent_form(alice, [CURVES])
    receipt = re.search(r"receipt=([0-9a-f-]+)", given.headers["location"])
    assert receipt
    (alices_link, _) = links_of(engine, world, "alice")
    assert flash(link_form(bob, CURVES, BOB)) == "linked"

    page = my_page(bob, f"?flash=consent-given&receipt={receipt.group(1)}")
    (hash_,) = [c.receipt_hash for c in consents_of(engine, world, "alice")]
    assert f'id="consent-{receipt.group(1)}"' not in page and hash_ not in page
    assert "You have given no consent" in words(page)
    assert preview_values(page) == {f"{hour + 0.1:.1f}" for hour in range(HOURS)}
    assert MORE_CURVES not in re.findall(r"/me/datasets/([^/]+)/records.csv", page)
    assert bob.get(f"/me/datasets/{MORE_CURVES}/records.csv").status_code == 404
    rows = list(csv.DictReader(io.StringIO(bob.get(f"/me/datasets/{CURVES}/records.csv").text)))
    assert {r["subject_key"] for r in rows} == {world.of(GRID, BOB)}

    # unlinking or revoking Alice's through Bob's own form: refused, nothing changes
    refused = post(bob, f"/me/links/{alices_link.id}/delete", {})
    assert flash(refused) == "link-unknown"
    assert flash(post(bob, f"/me/consents/{receipt.group(1)}/revoke", {})) == "consent-unknown"
    assert alices_link.id in {r.id for r in links_of(engine, world, "alice")}
    assert consents_of(engine, world, "alice")[0].revoked_at is None
    # nor may Bob consent on rows he has no link to
    assert flash(consent_form(bob, [MORE_CURVES])) == "consent-datasets"
    assert consents_of(engine, world, "bob") == []


def test_a_consent_given_on_the_page_is_used_then_revoked(engine, world, client, alice):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    page = my_page(alice)
    assert "Energy Coach (https://coach.example.org)" in words(page)
    assert f'<option value="{ADVICE}">' in page
    answer = consent_form(alice, [CURVES])
    assert flash(answer) == "consent-given"
    (given,) = consents_of(engine, world, "alice")
    assert answer.headers["location"].endswith("#flash")  # the message, which takes focus
    page = my_page(alice, answer.headers["location"].removeprefix(ME).split("#")[0])
    assert "Your consent is recorded" in words(page)
    assert given.id in page and given.receipt_hash in page
    assert re.search(r"<details open>\s*<summary>Receipt " + given.id[:8], page)
    assert '"consentReceiptID": "' + given.id + '"' in page

    coach = world.headers["coach"]
    read = rows_of(client, CURVES, coach, f"&purpose={ADVICE}")
    assert read.status_code == 200
    assert {r["subject_key"] for r in read.json()["records"]} == {world.of(GRID, ALICE)}
    log = words(my_page(alice))
    assert "Service Energy Coach (energy-coach)" in log and "energy-saving advice" in log

    assert flash(post(alice, f"/me/consents/{given.id}/revoke", {})) == "consent-revoked"
    assert rows_of(client, CURVES, coach, f"&purpose={ADVICE}").status_code == 403
    assert "revoked" in words(my_page(alice))


def test_purposes_are_named_in_the_pages_language_with_their_code_as_the_value(
    world, client, alice
):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(consent_form(alice, [CURVES])) == "consent-given"
    coach = world.headers["coach"]
    assert rows_of(client, CURVES, coach, f"&purpose={ADVICE}").status_code == 200
    for language, named in (
        ("fr", "conseil en économies d’énergie"),
        ("en", "energy-saving advice"),
    ):
        page = my_page(alice, language=language)
        # the form's option, the consents table and the service's read in the access log
        assert re.search(rf'<option value="{ADVICE}">{named}</option>', page), language
        consents = page.split('id="consents"', 1)[1].split("</table>", 1)[0]
        assert f"<td>{named}</td>" in consents, language
        assert [r[-1] for r in log_rows(page) if r[1].startswith("Service")] == [named]


@pytest.mark.parametrize(
    "change,datasets,code",
    [
        ({"expires": "2020-01-01"}, [CURVES], "consent-expiry"),
        ({"expires": "tomorrow"}, [CURVES], "consent-expiry"),
        ({"expires": "9999-12-31"}, [CURVES], "consent-expiry-late"),
        ({"expires": "9999-12-31T23:59:59-05:00"}, [CURVES], "consent-expiry-late"),
        ({"expires": "2099-06-30"}, [CURVES], "consent-expiry-late"),
        ({"purpose": "marketing"}, [CURVES], "consent-purpose"),
        ({"service": "no-such-app"}, [CURVES], "consent-service"),
        ({}, [], "consent-datasets"),
        ({}, [CURVES, MORE_CURVES], "consent-datasets"),  # not linked to the second
        ({}, [CURVES, OTHER_CURVES], "consent-producers"),
    ],
)
def test_a_consent_the_charter_does_not_allow_is_refused_on_its_field(
    engine, world, alice, change, datasets, code
):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(link_form(alice, OTHER_CURVES, ALICE)) == "linked"
    answer = consent_form(alice, datasets, **change)
    assert flash(answer) == code
    assert consents_of(engine, world, "alice") == []
    page = my_page(alice, f"?flash={code}")
    assert 'id="give-error"' in page and 'aria-describedby="give-error"' in page


def consent_fields(page: str) -> dict[str, str]:
    """The consent form's service, purpose and end date as the page fills them in, and the
    checked datasets (comma-separated), each with "!" when flagged invalid."""
    form = re.search(r'<form [^>]*id="give">.*?</form>', page, re.S)
    assert form, "no consent form"
    html = form.group(0)
    found = {}
    for name in ("service", "purpose"):
        select = re.search(rf'<select id="consent-{name}".*?</select>', html, re.S)
        assert select, name
        chosen = re.findall(r'<option value="([^"]*)" selected>', select.group(0))
        found[name] = ",".join(chosen) + ("!" if "aria-invalid" in select.group(0) else "")
    date = re.search(r'<input id="consent-expires"[^>]*>', html)
    assert date
    value = re.search(r'value="([^"]*)"', date.group(0))
    found["until"] = (value.group(1) if value else "") + (
        "!" if "aria-invalid" in date.group(0) else ""
    )
    found["datasets"] = ",".join(re.findall(r'name="datasets" value="([^"]+)" checked>', html))
    return found


def test_a_refused_consent_comes_back_as_sent_and_says_the_latest_day_allowed(alice):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(link_form(alice, OTHER_CURVES, ALICE)) == "linked"
    fresh = consent_fields(my_page(alice))
    assert fresh["service"] == fresh["purpose"] == fresh["datasets"] == ""
    assert fresh["until"] == f"{datetime.now(UTC).date() + timedelta(days=90)}"

    answer = consent_form(alice, [CURVES], expires="2099-06-30")
    assert flash(answer) == "consent-expiry-late"
    back = answer.headers["location"].removeprefix(ME)
    assert back.endswith("#give-error")  # the message, which takes focus
    # a consent lasts 366 days at most (the test charter ends in 2030): its last day is a year on
    latest = datetime.now(UTC).date() + timedelta(days=365)
    for language, said in (
        ("en", "The latest end date allowed is {}."),
        ("fr", "La date de fin la plus tardive possible est le {}."),
    ):
        said = said.format(format_date(latest, "long", locale=language))
        page = my_page(alice, back.split("#")[0], language)
        error = re.search(r'<p [^>]*id="give-error"[^>]*>(.*?)</p>', page, re.S)
        assert error and said in words(error.group(1)), language
        assert consent_fields(page) == {
            "service": "energy-coach",
            "purpose": ADVICE,
            "until": "2099-06-30!",  # what was typed, flagged
            "datasets": CURVES,
        }

    answer = consent_form(alice, [CURVES, OTHER_CURVES], expires="2020-01-01")
    assert flash(answer) == "consent-producers"
    page = my_page(alice, answer.headers["location"].removeprefix(ME).split("#")[0])
    assert consent_fields(page)["datasets"] == f"{CURVES},{OTHER_CURVES}"
    assert consent_fields(page)["until"] == "2020-01-01"
    assert "latest end date" not in words(page)


READ_CELLS = r"<tr>\s*<td><time[^>]*>[^<]*</time></td>\s*<td>([^<]+)"


def test_the_access_log_shows_others_reads_then_every_read_paged_newest_first(world, client, alice):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    for _ in range(25):
        assert rows_of(client, CURVES, world.headers["alice"]).status_code == 200
    assert rows_of(client, CURVES, world.headers["operator"]).status_code == 200
    # By default the log lists the reads by others: the page's own previews of Alice's rows
    # would bury them; her own reads are counted and one link away.
    log = my_page(alice).split('id="log"', 1)[1]
    assert [c.strip() for c in re.findall(READ_CELLS, log)] == ["Operator"]
    assert "Access log pages" not in log and empty_navigations(log) == []  # one page
    assert "Reads of your rows by others (1 in all)" in log
    own = int(re.search(r"Show your own reads too \((\d+)\)", log).group(1))
    assert own == 26  # 25 of Alice's own, and this page's preview of her rows

    first = my_page(alice, "?mine=1").split('id="log"', 1)[1]
    cells = re.findall(READ_CELLS, first)
    # newest first: the two pages' reads of Alice's rows, then the operator's
    assert len(cells) == 20 and [c.strip() for c in cells[:4]] == ["You", "You", "Operator", "You"]
    total = int(re.search(r"Reads of your rows \((\d+) in all\)", first).group(1))
    assert total == own + 2  # and this second page's preview, and the operator's read
    seen = len(cells)
    assert 'aria-label="Access log pages"' in first and empty_navigations(first) == []
    older = re.search(r'href="/me\?before=(\d+)&amp;mine=1#log"', first)
    while older:
        page = my_page(alice, f"?before={older.group(1)}&mine=1").split('id="log"', 1)[1]
        more = re.findall(READ_CELLS, page)
        assert more and set(more) == {"You"} and 'href="/me?mine=1#log"' in page
        seen += len(more)
        older = re.search(r'href="/me\?before=(\d+)&amp;mine=1#log"', page)
    assert seen == total


def log_rows(page: str) -> list[list[str]]:
    """The access log table's rows, each as its cells' words."""
    log = page.split('id="log"', 1)[1]
    rows = re.findall(r"<tr>\s*<td>(.*?)</tr>", log, re.S)
    return [[Page(cell).words.strip() for cell in re.split(r"</td>\s*<td>", row)] for row in rows]


def test_the_access_log_shows_the_subjects_own_rows_never_a_reads_total(
    world, client, alice, bob, monkeypatch
):
    monkeypatch.setattr(reading, "STREAM_PAGE", 4)  # the download is several pages
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(link_form(bob, CURVES, BOB)) == "linked"
    for browsing in (alice, bob):
        assert flash(consent_form(browsing, [CURVES])) == "consent-given"
    coach, advice = world.headers["coach"], f"&purpose={ADVICE}"
    read = rows_of(client, CURVES, coach, advice)
    assert len(read.json()["records"]) == 2 * HOURS  # one read of both households' rows
    download = f"/api/v1/datasets/{CURVES}/records?format=csv&purpose={ADVICE}"
    assert client.get(download, headers=coach).status_code == 200
    # newest first: the download's end, its opening (rows not known yet), the page read
    service = [r for r in log_rows(my_page(alice)) if r[1].startswith("Service")]
    assert [r[3] for r in service] == [str(HOURS), "counted when the read ends", str(HOURS)]
    assert str(2 * HOURS) not in {r[3] for r in log_rows(my_page(bob))}
    french = [r[3] for r in log_rows(my_page(alice, language="fr")) if r[1].startswith("Service")]
    assert french[1] == "comptés à la fin de la lecture"


def test_the_page_speaks_french(world, alice):
    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    page = my_page(alice, "?flash=linked", language="fr")
    text = words(page)
    assert '<html lang="fr">' in page
    for french in (
        "Mes données",
        "Mes liaisons",
        "Mes consentements",
        "Qui a utilisé mes données",
        "Numéro de PDL",
        "Code postal",
        "Vos données sont liées",
    ):
        assert french in text, french
    assert "Meter number" not in text


def test_a_token_signed_out_or_revoked_ends_the_page(engine, world, alice):
    with Session(engine) as session:
        row = tokens.lookup(session, tokens.check(session, token_of(world, "alice")).id)
        assert row is not None
        tokens.revoke(session, row.id)
    assert alice.get(ME, follow_redirects=False).status_code == 303


@pytest.mark.browser
def test_a_citizen_in_chromium_links_sees_the_chart_and_axe_finds_nothing_serious(
    engine,
    world,
    chromium,  # noqa: F811 - the fixture
    tmp_path,
):
    from playwright.sync_api import sync_playwright

    with live_server() as url, sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=ARGS)
        try:
            # axe is injected as an inline script, which the hub's policy rightly refuses.
            context = launched.new_context(
                viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True
            )
            page = context.new_page()
            page.goto(f"{url}/signin?next=/me")
            page.fill("#token", token_of(world, "alice"))
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url("**/me")
            form = page.locator(f"#link-ds-{CURVES}")
            form.get_by_label("Meter number").fill(ALICE[0])
            form.get_by_label("Postcode").fill(ALICE[1])
            form.get_by_role("button", name="Link me to my data").click()
            page.wait_for_url("**/me?flash=linked*")
            page.wait_for_selector("figure.chart-drawn canvas")
            assert "Your data is linked" in page.inner_text("#flash")
            assert ALICE[0] not in page.content()
            page.screenshot(path=str(tmp_path / "mydata.png"), full_page=True)
            found = audit(page)
        finally:
            launched.close()
    assert not found, "axe-core on /me:\n" + "\n".join(found)
    assert (tmp_path / "mydata.png").stat().st_size > 10_000


def test_a_consent_the_charter_in_force_no_longer_allows_shows_suspended(
    engine, world, client, alice, tmp_path
):
    from hub import charters

    assert flash(link_form(alice, CURVES, ALICE)) == "linked"
    assert flash(consent_form(alice, [CURVES])) == "consent-given"
    assert "suspended" not in words(my_page(alice))
    folder = tmp_path / "charters"
    text = (folder / "test-curves-charter.yaml").read_text(encoding="utf-8")
    amended = text.replace('version: "1.0"', 'version: "2.0"').replace(
        "purposes: [self-data, energy-saving-advice]", "purposes: [self-data]"
    )
    today = datetime.now(UTC).date()
    amended = amended.replace('valid_from: "2026-01-01"', f'valid_from: "{today}"')
    (folder / "test-curves-charter@2.0.yaml").write_text(amended, encoding="utf-8")
    charters._listings.clear()  # read the new version now, not after its stamp's delay
    assert rows_of(client, CURVES, world.headers["coach"], f"&purpose={ADVICE}").status_code == 403
    english = words(my_page(alice))
    assert "suspended" in english and "active" not in english
    assert (
        f"Suspended for Household load curves ({CURVES}): Charter test-curves-charter 2.0 "
        "does not allow reading" in english
    )
    french = words(my_page(alice, language="fr"))
    assert "suspendu" in french and "en cours" not in french
    assert (
        f"Suspendu pour Household load curves ({CURVES}) : La charte test-curves-charter 2.0 "
        "n’autorise pas" in french
    )
