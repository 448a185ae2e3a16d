"""Why a read is granted or refused, and what a run's error shows: message codes and parameters.

Domain code says *which* message (a code) and *with what* (its parameters); the English text the
API, the CKAN actions and the access log show is rendered here from one table of templates, and
the catalogue UI translates the same codes (hub.ui.refusals). A parameter may itself be a
Message (a refusal that quotes a grant); a list parameter is shown comma-separated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Union

Param = Union[str, int, Sequence[str], "Message"]


class Message(NamedTuple):
    """A message code and the values its text quotes."""

    code: str
    params: Mapping[str, Param] = {}


_PERSONAL = (
    "the records of %(dataset)r hold personal data under charter %(charter)s: only the data "
    "subject, or a service holding their consent, may read them"
)
_ADD_PURPOSE = "; a service reads them for a declared purpose: add purpose= one of "
_NOT_ALLOWED = "purpose %(purpose)r is not one that charter %(charter)s allows for %(dataset)r: "
_AGGREGATES = "public aggregates of %(measure)r by %(by)s"
_AGGREGATED = (
    ", %(start)s to %(end)s: %(shown)s of %(cells)s cells published, groups of fewer than "
    "%(k)s data subjects suppressed (charter %(charter)s)"
)

# The API's English, byte for byte what it said before codes existed (`%(x)r` quotes as repr).
ENGLISH: dict[str, str] = {
    # grants on rows
    "open": "open under charter %(charter)s",
    "operator": "operator of %(organization)s, the producer",
    "member": "member of %(organization)s, named by charter %(charter)s",
    "member_role": "%(role)s role, named by charter %(charter)s",
    "subject_own_rows": "the data subject's own rows, linked under charter %(charter)s",
    "consents": "live consents of data subjects to service %(service)s for %(purpose)r",
    "crisis_cell": (
        "crisis cell of %(organization)s during crisis %(crises)s: the rows inside its area and "
        "window, under charter %(charter)s"
    ),
    "crisis_cell_exercise": (
        "crisis cell of %(organization)s during EXERCISE %(crises)s (purpose exercise): the rows "
        "inside its area and window, under charter %(charter)s"
    ),
    "aggregates": _AGGREGATES + _AGGREGATED,
    "aggregates_grouped": _AGGREGATES + ", grouped by %(group)s" + _AGGREGATED,
    # refusals
    "restricted_members": (
        "the records of %(dataset)r are restricted by charter %(charter)s to the members it "
        "names; they need a member's token (the metadata stays public)"
    ),
    "crisis_only": (
        "the records of %(dataset)r open under charter %(charter)s only to crisis cells, during "
        "a declared crisis covering them"
    ),
    "exercise_not_allowed": (
        "charter %(charter)s does not open the records of %(dataset)r to crisis exercises: only "
        "a real declared crisis opens them"
    ),
    "exercise_purpose": (
        "the records of %(dataset)r open to this cell only under an exercise: declare the "
        "purpose 'exercise' (purpose=exercise or X-Purpose: exercise) to read them, under "
        "charter %(charter)s"
    ),
    "charter_expired": (
        "charter %(charter)s of %(dataset)r expired on %(until)s: its records are no longer "
        "shared (the metadata stays public)"
    ),
    "charter_not_yet": (
        "charter %(charter)s of %(dataset)r is not in force before %(start)s: its records are "
        "not shared yet (the metadata stays public)"
    ),
    "charter_unreadable": (
        "charter %(charter)s of %(dataset)r cannot be read by the hub: its records are not "
        "shared until it is mended (the metadata stays public)"
    ),
    "charter_terms_changed": (
        "charter %(charter)s of %(dataset)r changed who may read its records: they are shared "
        "again once the dataset is harvested under it (the metadata stays public)"
    ),
    "unknown_level": "the records of %(dataset)r have an unknown access level %(level)r: refused",
    "personal": _PERSONAL,
    "personal_no_link": (
        _PERSONAL + "; this account is linked to none of them (POST /api/v1/me/links)"
    ),
    "personal_no_service": _PERSONAL + "; this service token is tied to no registered service",
    "personal_no_purpose": _PERSONAL + _ADD_PURPOSE + "%(purposes)s",
    "purpose_required": (
        "charter %(charter)s opens the records of %(dataset)r only for a declared purpose: add "
        "purpose= one of %(purposes)s"
    ),
    "purpose_not_allowed": _NOT_ALLOWED + "%(purposes)s",
    "personal_no_consent": (
        _PERSONAL + "; no data subject has a live consent for service %(service)s to read them "
        "for %(purpose)r"
    ),
    "beyond_grant": "%(grant)s: this read shows every row of %(dataset)r, beyond that grant",
    # a harvest run's error, whole or withheld (hub.access.run_error)
    "run_error": "%(error)s",
    "run_error_withheld": "%(kind)s (details withheld under the dataset's charter)",
    # what a run's error says before its first colon, for the kinds the hub itself writes
    "too_many_invalid_rows": "too many invalid rows",
    "every_row_invalid": "every row was invalid",
    "retention": "retention",
    "withdrawal": "withdrawal",
    "no_charter_in_force": "no charter in force",
    "run_failed": "error",
}

# Run error kinds (the text before the first colon) as hub.quarantine, hub.retention,
# hub.withdrawal and hub.catalogue write them, to their codes; any other kind (an exception's
# name) stays as is.
RUN_ERROR_KINDS: dict[str, str] = {
    ENGLISH[code]: code
    for code in (
        "too_many_invalid_rows",
        "every_row_invalid",
        "retention",
        "withdrawal",
        "no_charter_in_force",
        "run_failed",
    )
}


def render(code: str, params: Mapping[str, Param] | None = None) -> str:
    """The English text of message `code` with its parameters filled in."""
    return ENGLISH[code] % {name: english(value) for name, value in (params or {}).items()}


def english(value: Param) -> str | int:
    """One parameter as the English text shows it."""
    if isinstance(value, Message):
        return render(value.code, value.params)
    if isinstance(value, str | int):
        return value
    return ", ".join(value)
