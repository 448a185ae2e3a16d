"""Grants, refusals and run errors as message codes: the API's English unchanged, the UI's
French and English catalogues complete (hub.refusals, hub.ui.refusals)."""

from __future__ import annotations

import re
from itertools import product

import pytest
from api.support import write_closed_charters
from babel.messages.pofile import read_po

from hub import access, quarantine, retention
from hub.access import AccessDenied, Actor
from hub.config import get_settings
from hub.models import Dataset
from hub.refusals import ENGLISH, RUN_ERROR_KINDS, Message, Param, render
from hub.ui import refusals as ui
from hub.ui.i18n import LOCALES_DIR
from hub.validation.tableerrors import CATALOGUE

MEMBER = "metropole-civil-protection"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sr]")

# Every branch of access.grant, and the codes it answers with: a new branch shows up here.
GRANT_CODES = {
    "open",
    "operator",
    "member",
    "member_role",
    "subject_own_rows",
    "consents",
    "restricted_members",
    "crisis_only",
    "unknown_level",
    "personal",
    "personal_no_link",
    "personal_no_service",
    "personal_no_purpose",
    "purpose_not_allowed",
    "charter_unreadable",
    "personal_no_consent",
}


@pytest.fixture(autouse=True)
def test_charters(tmp_path, monkeypatch):
    """Atmo Démo's restricted, personal and crisis charters (restricted to MEMBER)."""
    write_closed_charters(tmp_path / "charters")
    monkeypatch.setenv("HUB_CHARTERS_PATH", str(tmp_path / "charters"))
    get_settings.cache_clear()


def dataset(level: str, charter: str | None = None) -> Dataset:
    return Dataset(
        id=f"demo-{level}",
        title="Demo",
        organization_id="atmo-demo",
        theme="air-quality",
        schema_name="air-quality-observation",
        charter_id=charter or f"atmo-demo-{level}",
        charter_version="2.1",
        access=level,
    )


ACTORS = [
    access.ANONYMOUS,
    Actor(id="t-subject", role="subject", account="acc-1"),
    Actor(id="t-service", role="service", service="coach"),
    Actor(id="t-bare-service", role="service"),
    Actor(id="t-agency", role="agency", organizations=frozenset({MEMBER})),
    Actor(id="t-cell", role="crisis-cell"),
    Actor(id="t-operator", role="operator", organizations=frozenset({"atmo-demo"})),
]


def every_grant() -> list[access.Grant]:
    """The grants of every actor above on every level, with and without purposes, subjects,
    a charter that names a role and a charter that cannot be read."""
    grants = []
    for level, charter in product(
        ("open", "restricted", "personal", "crisis", "semi-open"),
        (None, "atmo-demo-crisis", "no-such-charter"),
    ):
        for who, purpose, held in product(
            ACTORS, ("", "testing", "marketing"), (None, frozenset({"p-1"}))
        ):
            grants.append(
                access.grant(dataset(level, charter), who, purpose=purpose, subjects=held)
            )
    return grants


def catalogue(language: str) -> dict[str, str]:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "refusals.po").open("rb") as handle:
        read = read_po(handle, locale=language)
    assert not list(read.check()), f"{language}: placeholders differ between msgid and msgstr"
    return {str(m.id): str(m.string) for m in read if m.id}


def gettext_of(language: str):
    entries = catalogue(language)
    return lambda msgid: entries.get(msgid) or msgid


def test_every_code_grant_answers_with_has_english_and_both_catalogues():
    reached = {given.code for given in every_grant()}
    assert reached == GRANT_CODES
    french, english = catalogue("fr"), catalogue("en")
    for code in reached:
        assert code in ENGLISH and code in ui.REFUSALS
        assert french[ui.REFUSALS[code]] and english[ui.REFUSALS[code]] == ui.REFUSALS[code]


def test_every_code_and_error_type_has_a_ui_msgid_in_both_catalogues():
    assert set(ui.REFUSALS) == set(ENGLISH)
    # the types the hub's validator writes (frictionless's, copied) and its own
    assert set(ui.ERROR_TYPES) >= {*CATALOGUE, "normalisation-error"}
    french, english = catalogue("fr"), catalogue("en")
    for msgid in [*ui.REFUSALS.values(), *ui.ERROR_TYPES.values()]:
        assert french.get(msgid), msgid
        assert english.get(msgid) == msgid


@pytest.mark.parametrize(
    ("level", "who", "purpose", "said"),
    [
        ("open", access.ANONYMOUS, "", "open under charter atmo-demo-open 2.1"),
        ("crisis", ACTORS[6], "", "operator of atmo-demo, the producer"),
        (
            "restricted",
            ACTORS[4],
            "",
            "member of metropole-civil-protection, named by charter atmo-demo-restricted 2.1",
        ),
        (
            "restricted",
            access.ANONYMOUS,
            "",
            "the records of 'demo-restricted' are restricted by charter atmo-demo-restricted 2.1 "
            "to the members it names; they need a member's token (the metadata stays public)",
        ),
        (
            "personal",
            ACTORS[1],
            "",
            "the records of 'demo-personal' hold personal data under charter atmo-demo-personal "
            "2.1: only the data subject, or a service holding their consent, may read them; this "
            "account is linked to none of them (POST /api/v1/me/links)",
        ),
        (
            "personal",
            ACTORS[2],
            "",
            "the records of 'demo-personal' hold personal data under charter atmo-demo-personal "
            "2.1: only the data subject, or a service holding their consent, may read them; a "
            "service reads them for a declared purpose: add purpose= one of testing",
        ),
        (
            "personal",
            ACTORS[2],
            "marketing",
            "purpose 'marketing' is not one that charter atmo-demo-personal 2.1 allows for "
            "'demo-personal': testing",
        ),
        (
            "personal",
            ACTORS[2],
            "testing",
            "the records of 'demo-personal' hold personal data under charter atmo-demo-personal "
            "2.1: only the data subject, or a service holding their consent, may read them; no "
            "data subject has a live consent for service coach to read them for 'testing'",
        ),
        (
            "semi-open",
            ACTORS[4],
            "",
            "the records of 'demo-semi-open' have an unknown access level 'semi-open': refused",
        ),
    ],
)
def test_the_api_english_is_what_it_was_before_codes(level, who, purpose, said):
    # a level the hub does not know, under a charter it can read
    charter = "atmo-demo-restricted" if level == "semi-open" else None
    assert access.grant(dataset(level, charter), who, purpose=purpose).reason == said


def test_grants_on_some_rows_and_unreadable_charters_keep_their_english():
    consented = access.grant(
        dataset("personal"), ACTORS[2], purpose="testing", subjects=frozenset({"p-1"})
    )
    assert consented.reason == "live consents of data subjects to service coach for 'testing'"
    gone = access.grant(dataset("personal", "no-such-charter"), ACTORS[2], purpose="x")
    assert gone.reason == (
        "charter no-such-charter 2.1 of 'demo-personal' cannot be read by the hub: its records "
        "are not shared until it is mended (the metadata stays public)"
    )
    role = access.grant(dataset("restricted", "atmo-demo-crisis"), ACTORS[5])
    assert role.reason == "crisis-cell role, named by charter atmo-demo-crisis 2.1"


def test_a_refusal_beyond_a_partial_grant_quotes_the_grant():
    own = access.grant(dataset("personal"), ACTORS[1], subjects=frozenset({"p-1"}))
    denied = AccessDenied(
        "demo-personal", "beyond_grant", {"grant": own.message, "dataset": "demo-personal"}
    )
    said = (
        "the data subject's own rows, linked under charter atmo-demo-personal 2.1: this read "
        "shows every row of 'demo-personal', beyond that grant"
    )
    assert denied.reason == str(denied) == said
    french = ui.message_text(denied.message, gettext_of("fr"))
    assert french.startswith("Vos propres enregistrements") and "demo-personal" in french


def test_run_errors_withheld_by_kind_the_hub_writes():
    assert RUN_ERROR_KINDS[quarantine.TOO_MANY] == "too_many_invalid_rows"
    assert RUN_ERROR_KINDS[quarantine.EVERY_ROW] == "every_row_invalid"
    assert RUN_ERROR_KINDS[retention.NOTE] == "retention"
    error = f"{quarantine.TOO_MANY}: 7 of 9 rows read were invalid"
    assert access.redact_run_error(error, whole=False) == (
        "too many invalid rows (details withheld under the dataset's charter)"
    )
    withheld = access.run_error(error, whole=False)
    assert withheld is not None
    assert ui.message_text(withheld, gettext_of("fr")) == (
        "Trop de lignes invalides (détails non communiqués, selon la charte du jeu de données)"
    )
    # a reader's exception name is no code: shown as it is, never the row it quoted
    reader = access.run_error("ReaderError: row 3 'SECRET' is not a number", whole=False)
    assert reader is not None and "SECRET" not in ui.message_text(reader, gettext_of("fr"))
    assert access.run_error("", whole=True) is None


def sample(code: str) -> dict[str, Param]:
    """Distinct values for every placeholder of a code's English and UI texts."""
    names = set(PLACEHOLDER.findall(ENGLISH[code])) | set(PLACEHOLDER.findall(ui.REFUSALS[code]))
    values: dict[str, Param] = {name: f"<{name}>" for name in names}
    if "purposes" in values:
        values["purposes"] = ["<first>", "<second>"]
    if "grant" in values:
        values["grant"] = Message("open", {"charter": "<charter>"})
    if "kind" in values:
        values["kind"] = Message("every_row_invalid")
    return values


@pytest.mark.parametrize("code", sorted(ENGLISH))
def test_french_fills_every_placeholder(code):
    params = sample(code)
    french = ui.refusal_text(code, params, gettext_of("fr"))
    english = render(code, params)
    for text in (french, english):
        assert "%(" not in text
    for name, value in params.items():
        if isinstance(value, str):
            assert value in french, (code, name)
    if "purposes" in params:
        assert "<first>, <second>" in french
    if "grant" in params:
        assert "Ouvert à tous" in french
    if code != "run_error":
        assert french != ui.refusal_text(code, params, gettext_of("en"))


def test_error_types_in_words():
    assert ui.error_type_text("type-error", gettext_of("fr")) == (
        "Valeur qui n’a pas le format attendu"
    )
    assert ui.error_type_text("type-error", gettext_of("en")) == "Value not in the expected format"
    assert ui.error_type_text("some-new-error", gettext_of("fr")) == "some-new-error"
