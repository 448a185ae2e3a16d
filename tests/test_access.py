"""Grants: which rows each kind of actor may read, by the charter's access level (DESIGN §5)."""

from __future__ import annotations

import pytest
from api.support import write_closed_charters

from hub import access
from hub.access import Actor
from hub.config import get_settings
from hub.models import Dataset

MEMBER = "metropole-civil-protection"


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


def actor(role: str, *orgs: str) -> Actor:
    return Actor(id=f"t-{role}", role=role, organizations=frozenset(orgs))


def test_open_records_are_readable_by_anyone():
    open_data = dataset("open")
    for who in (access.ANONYMOUS, actor("subject"), actor("agency", "elsewhere")):
        given = access.grant(open_data, who)
        assert given.scope == "all" and given.whole and given.reads_rows


@pytest.mark.parametrize("level", ["restricted", "personal", "crisis"])
def test_closed_records_are_refused_without_a_token(level):
    closed = dataset(level)
    refused = access.grant(closed)
    assert refused.scope == "none" and not refused.reads_rows
    assert closed.id in refused.reason and f"atmo-demo-{level}" in refused.reason


@pytest.mark.parametrize("role", ["agency", "operator", "service", "crisis-cell"])
def test_members_named_by_a_restricted_charter_read_every_row(role):
    given = access.grant(dataset("restricted"), actor(role, MEMBER))
    assert given.scope == "all" and MEMBER in given.reason


def test_an_agency_of_several_organizations_is_a_member_through_any_of_them():
    assert access.grant(dataset("restricted"), actor("agency", "a-town", MEMBER)).whole


@pytest.mark.parametrize(
    "who",
    [
        actor("agency", "another-org"),
        actor("subject"),
        actor("admin"),
        actor("operator", "another-operator"),
        actor("crisis-cell"),
    ],
)
def test_others_read_nothing_of_a_restricted_dataset(who):
    given = access.grant(dataset("restricted"), who)
    assert given.scope == "none" and not given.reads_rows and not given.whole


def test_a_role_named_by_the_charter_opens_its_records_to_that_role():
    # The crisis test charter says `restricted_to: ['role:crisis-cell']`: a restricted charter
    # of the same shape lets any crisis-cell token read.
    crisis_shaped = dataset("restricted", charter="atmo-demo-crisis")
    assert access.grant(crisis_shaped, actor("crisis-cell")).whole
    assert not access.grant(crisis_shaped, actor("agency", MEMBER)).reads_rows


@pytest.mark.parametrize("level", ["open", "restricted", "personal", "crisis"])
def test_the_producers_operators_read_everything_of_their_own_datasets(level):
    given = access.grant(dataset(level), actor("operator", "atmo-demo"))
    assert given.whole and "producer" in given.reason or level == "open"
    assert not access.grant(dataset(level), actor("agency", "atmo-demo")).whole or level == "open"


@pytest.mark.parametrize("level", ["personal", "crisis"])
def test_personal_and_crisis_data_open_to_nobody_else_yet(level):
    for who in (
        actor("agency", MEMBER),
        actor("crisis-cell", MEMBER),
        actor("subject"),
        actor("service", MEMBER),
        actor("admin"),
    ):
        assert access.grant(dataset(level), who).scope == "none"


@pytest.mark.parametrize("level", ["restricted", "crisis"])
def test_a_charter_that_is_gone_opens_nothing(level):
    """No charter, no legal basis: members and crisis cells alike read nothing, and are told."""
    gone = dataset(level, charter="no-such-charter")
    for who in (actor("agency", MEMBER), actor("crisis-cell", MEMBER)):
        refused = access.grant(gone, who)
        assert refused.code == "charter_unreadable" and not refused.reads_rows
    assert access.grant(gone, actor("operator", "atmo-demo")).whole


def test_each_level_says_why_in_its_own_words():
    reasons = {}
    for level in ("restricted", "personal", "crisis"):
        reasons[level] = access.grant(dataset(level)).reason
    assert "member" in reasons["restricted"]
    assert "personal data" in reasons["personal"] and "consent" in reasons["personal"]
    assert "crisis" in reasons["crisis"]


def test_an_unknown_level_is_refused_not_opened():
    semi_open = dataset("semi-open", charter="atmo-demo-restricted")
    refused = access.grant(semi_open, actor("operator", "another-op"))
    assert refused.scope == "none" and "unknown access level" in refused.reason


def test_run_errors_keep_their_kind_only_for_callers_who_may_not_read_every_row():
    error = "ReaderError: row 3 'HOUSEHOLD-SECRET-7' is not a number"
    assert access.redact_run_error(error, whole=True) == error
    withheld = access.redact_run_error(error, whole=False)
    assert "HOUSEHOLD" not in withheld and withheld.startswith("ReaderError (details withheld")
    assert access.redact_run_error("", whole=False) == ""


def test_an_edited_restricted_to_applies_to_the_next_reads(tmp_path, monkeypatch):
    from hub import charters

    monkeypatch.setattr(charters, "STAMP_SECONDS", 0.0)
    newcomer = actor("agency", "new-member")
    assert not access.grant(dataset("restricted"), newcomer).reads_rows
    path = tmp_path / "charters" / "atmo-demo-restricted.yaml"
    path.write_text(
        path.read_text().replace(
            "[metropole-civil-protection]", "[metropole-civil-protection, new-member]"
        )
    )
    assert access.grant(dataset("restricted"), newcomer).whole


def expire_charters(folder, until: str = "2021-12-31") -> None:
    """Every test charter ended on `until` (as an agreement that was not renewed)."""
    from hub import charters

    for path in folder.glob("*.yaml"):
        text = path.read_text(encoding="utf-8").replace('"2026-01-01"', '"2020-01-01"')
        path.write_text(text.replace('"2030-12-31"', f'"{until}"'), encoding="utf-8")
    charters._listings.clear()  # read the edit now, not after STAMP_SECONDS


@pytest.mark.parametrize(
    "level,who",
    [
        ("restricted", actor("agency", MEMBER)),
        ("personal", actor("service")),
        ("crisis", actor("crisis-cell", MEMBER)),
    ],
)
def test_nothing_closed_is_shared_once_its_charter_has_expired(tmp_path, level, who):
    expire_charters(tmp_path / "charters")
    given = access.grant(dataset(level), who, purpose="testing", subjects=frozenset({"ps-1"}))
    assert given.scope == "none" and given.code == "charter_expired"
    assert "expired on 2021-12-31" in given.reason and f"atmo-demo-{level} 2.1" in given.reason


def test_after_its_charter_the_producer_and_the_subject_still_read_and_open_data_stays(tmp_path):
    expire_charters(tmp_path / "charters")
    assert access.grant(dataset("restricted"), actor("operator", "atmo-demo")).whole
    own = access.grant(dataset("personal"), actor("subject"), subjects=frozenset({"ps-1"}))
    assert own.scope == "subjects"  # GDPR art. 15 and 20: a subject's own rows
    assert access.grant(dataset("open", "atmo-demo-restricted")).whole  # its licence was given


def new_version(folder, level: str, version: str, *changes: tuple[str, str]) -> None:
    """A new version of a test charter beside the old one (`ID@VERSION.yaml`), as an admin
    renews or amends an agreement; `changes` edit the copied text."""
    from hub import charters

    text = (folder / f"atmo-demo-{level}.yaml").read_text(encoding="utf-8")
    text = text.replace('version: "2.1"', f'version: "{version}"')
    for old, new in changes:
        assert old in text, old
        text = text.replace(old, new)
    (folder / f"atmo-demo-{level}@{version}.yaml").write_text(text, encoding="utf-8")
    charters._listings.clear()  # read the new file now, not after STAMP_SECONDS


RENEWED = [('"2020-01-01"', '"2022-01-01"'), ('"2021-12-31"', '"2030-12-31"')]


@pytest.mark.parametrize(
    "level,who", [("restricted", actor("agency", MEMBER)), ("personal", actor("service"))]
)
def test_a_renewed_charter_shares_again_at_once_without_a_new_harvest(tmp_path, level, who):
    folder = tmp_path / "charters"
    expire_charters(folder)
    who = Actor(id=who.id, role=who.role, organizations=who.organizations, service="svc")
    ask = {"purpose": "testing", "subjects": frozenset({"ps-1"})}
    assert access.grant(dataset(level), who, **ask).code == "charter_expired"
    new_version(folder, level, "3.0", *RENEWED)
    given = access.grant(dataset(level), who, **ask)  # the dataset still says version 2.1
    assert given.reads_rows and given.scope == ("all" if level == "restricted" else "subjects")


def test_a_charter_ended_early_by_a_new_version_stops_reads_at_once(tmp_path):
    from datetime import UTC, datetime, timedelta

    member = actor("agency", MEMBER)
    assert access.grant(dataset("restricted"), member).whole  # 2.1 runs until 2030-12-31
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    new_version(tmp_path / "charters", "restricted", "2.2", ('"2030-12-31"', f'"{yesterday}"'))
    given = access.grant(dataset("restricted"), member)
    assert given.code == "charter_expired" and not given.reads_rows
    assert f"atmo-demo-restricted 2.2 of 'demo-restricted' expired on {yesterday}" in given.reason
    assert access.grant(dataset("restricted"), actor("operator", "atmo-demo")).whole


def test_a_version_that_has_not_started_leaves_the_one_in_force(tmp_path):
    """Renewed ahead of time: the current version rules until the new one's first day."""
    new_version(
        tmp_path / "charters",
        "restricted",
        "3.0",
        ('"2026-01-01"', '"2031-01-01"'),
        ('"2030-12-31"', '"2035-12-31"'),
        ("[metropole-civil-protection]", "[someone-else]"),
    )
    assert access.grant(dataset("restricted"), actor("agency", MEMBER)).whole


def test_under_changed_terms_only_who_both_versions_open_to_reads(tmp_path):
    """Rows published under 2.1 and read while 3.0 is in force: both versions must allow it."""
    folder = tmp_path / "charters"
    expire_charters(folder)
    new_version(
        folder,
        "restricted",
        "3.0",
        *RENEWED,
        ("[metropole-civil-protection]", "[metropole-civil-protection, newcomer]"),
    )
    assert access.grant(dataset("restricted"), actor("agency", MEMBER)).whole
    newcomer = access.grant(dataset("restricted"), actor("agency", "newcomer"))
    assert newcomer.code == "restricted_members"  # not under 2.1: after the next harvest
    (folder / "atmo-demo-restricted@3.0.yaml").unlink()
    new_version(folder, "restricted", "3.1", *RENEWED, ("[metropole-civil-protection]", "[x]"))
    dropped = access.grant(dataset("restricted"), actor("agency", MEMBER))
    assert dropped.code == "restricted_members" and "atmo-demo-restricted 3.1" in dropped.reason


def test_a_version_opening_the_rows_to_all_still_keeps_them_to_who_the_stored_one_opens(tmp_path):
    folder = tmp_path / "charters"
    expire_charters(folder)
    new_version(
        folder, "restricted", "3.0", *RENEWED, ("access: restricted", "access: open"),
        ("restricted_to: [metropole-civil-protection]\n", ""),
    )  # fmt: skip
    assert access.grant(dataset("restricted"), actor("agency", MEMBER)).whole
    assert not access.grant(dataset("restricted")).reads_rows
