"""Refusal reasons, run errors and validation error types as the catalogue UI words them.

Domain code gives message codes and parameters (hub.refusals); here each code has an English
msgid for people, not for API clients, marked with `N_` for extraction and translated by the
gettext of the page's language (hub.ui.i18n), in `locales/*/LC_MESSAGES/refusals.po`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from hub.refusals import Message, Param

Gettext = Callable[[str], str]


def N_(text: str) -> str:  # noqa: N802 - gettext's usual name for a no-op marker
    """Mark `text` for extraction; it is translated where shown."""
    return text


_PERSONAL = "The records of %(dataset)s hold personal data under charter %(charter)s"

# One msgid per hub.refusals code (the English of hub.refusals.ENGLISH is the API's).
REFUSALS: dict[str, str] = {
    "open": N_("Open to everyone under charter %(charter)s."),
    "operator": N_("You operate %(organization)s, the producer of this dataset."),
    "member": N_("Charter %(charter)s names %(organization)s, of which you are a member."),
    "member_role": N_("Charter %(charter)s names your role (%(role)s)."),
    "subject_own_rows": N_("Your own records, linked to your account under charter %(charter)s."),
    "consents": N_(
        "The records of the people who consented to service %(service)s using them for "
        "“%(purpose)s”."
    ),
    "crisis_cell": N_(
        "You are the crisis cell of %(organization)s during crisis %(crises)s: the records "
        "inside its area and period, under charter %(charter)s."
    ),
    "crisis_cell_exercise": N_(
        "You are the crisis cell of %(organization)s during the EXERCISE %(crises)s: the "
        "records inside its area and period, under charter %(charter)s."
    ),
    "aggregates": N_(
        "Public statistics of %(measure)s by %(by)s, from %(start)s to %(end)s: %(shown)s of "
        "%(cells)s cells shown; groups of fewer than %(k)s people are hidden (charter "
        "%(charter)s)."
    ),
    "aggregates_grouped": N_(
        "Public statistics of %(measure)s by %(by)s and by %(group)s, from %(start)s to %(end)s: "
        "%(shown)s of %(cells)s cells shown; groups of fewer than %(k)s people are hidden "
        "(charter %(charter)s)."
    ),
    "restricted_members": N_(
        "Charter %(charter)s keeps the records of %(dataset)s for the members it names. Sign "
        "in with a member’s token to see them; the description stays public."
    ),
    "crisis_only": N_(
        "Charter %(charter)s opens the records of %(dataset)s only to crisis cells, during a "
        "declared crisis that covers them."
    ),
    "exercise_not_allowed": N_(
        "Charter %(charter)s does not open the records of %(dataset)s to crisis exercises: only "
        "a real declared crisis opens them."
    ),
    "exercise_purpose": N_(
        "Only an exercise opens the records of %(dataset)s to your cell: read them with the "
        "purpose “exercise” (charter %(charter)s)."
    ),
    "charter_expired": N_(
        "Charter %(charter)s of %(dataset)s expired on %(until)s: its records are no "
        "longer shared (the description stays public)."
    ),
    "charter_not_yet": N_(
        "Charter %(charter)s of %(dataset)s is not in force before %(start)s: its "
        "records are not shared yet (the description stays public)."
    ),
    "charter_unreadable": N_(
        "The hub cannot read charter %(charter)s of %(dataset)s: its records are not shared "
        "until it is mended (the description stays public)."
    ),
    "charter_terms_changed": N_(
        "Charter %(charter)s of %(dataset)s changed who may read its records: they are shared "
        "again once the dataset is harvested under it (the description stays public)."
    ),
    "unknown_level": N_(
        "The records of %(dataset)s have an access level the hub does not know (%(level)s), "
        "so they are not shown."
    ),
    "personal": N_(
        "The records of %(dataset)s hold personal data under charter %(charter)s: only the "
        "person concerned, or a service they consented to, may see them."
    ),
    "personal_no_link": N_(
        "The records of %(dataset)s hold personal data under charter %(charter)s, and this "
        "account is linked to none of them."
    ),
    "personal_no_service": N_(
        "The records of %(dataset)s hold personal data under charter %(charter)s, and this "
        "service token is tied to no registered service."
    ),
    "personal_no_purpose": N_(
        "The records of %(dataset)s hold personal data under charter %(charter)s: a service "
        "must say what it reads them for, one of: %(purposes)s."
    ),
    "purpose_required": N_(
        "Charter %(charter)s opens the records of %(dataset)s only for a declared purpose, one "
        "of: %(purposes)s."
    ),
    "purpose_not_allowed": N_(
        "Charter %(charter)s does not allow reading %(dataset)s for “%(purpose)s”; it allows: "
        "%(purposes)s."
    ),
    "personal_no_consent": N_(
        "The records of %(dataset)s hold personal data under charter %(charter)s, and no one "
        "has a current consent for service %(service)s to read them for “%(purpose)s”."
    ),
    "beyond_grant": N_(
        "%(grant)s This view shows every record of %(dataset)s, which goes beyond that."
    ),
    "run_error": N_("%(error)s"),
    "run_error_withheld": N_("%(kind)s (details withheld under the dataset’s charter)"),
    "too_many_invalid_rows": N_("Too many invalid rows"),
    "every_row_invalid": N_("Every row was invalid"),
    "retention": N_("Purge of old records"),
    "withdrawal": N_("Records withdrawn"),
    "no_charter_in_force": N_("No charter in force"),
    "run_failed": N_("Error"),
}

# The error types of validation reports and quarantined rows: frictionless's (the hub writes
# the same, hub.validation.tableerrors) and the hub's own normalisation error.
ERROR_TYPES: dict[str, str] = {
    "blank-header": N_("Empty header row"),
    "extra-label": N_("Column not in the schema"),
    "missing-label": N_("Column missing from the file"),
    "blank-label": N_("Column without a name"),
    "duplicate-label": N_("Column name used twice"),
    "incorrect-label": N_("Column name that differs from the schema"),
    "blank-row": N_("Empty row"),
    "primary-key": N_("Row identifier used twice"),
    "extra-cell": N_("Extra value in a row"),
    "missing-cell": N_("Missing value in a row"),
    "type-error": N_("Value not in the expected format"),
    "constraint-error": N_("Value that breaks a rule of the schema"),
    "unique-error": N_("Repeated value that should be unique"),
    "foreign-key": N_("Reference to a row that does not exist"),
    "source-error": N_("File that cannot be read"),
    "encoding-error": N_("Text in an unreadable encoding"),
    "schema-error": N_("Invalid schema"),
    "normalisation-error": N_("Value that cannot be put in the hub’s standard form"),
    "error": N_("Other error"),  # a report error without a type (hub.ui's summary says so)
}


def refusal_text(code: str, params: Mapping[str, Param], gettext: Gettext) -> str:
    """Message `code` in the language of `gettext`, its parameters filled in."""
    return gettext(REFUSALS[code]) % {
        name: _shown(value, gettext) for name, value in params.items()
    }


def message_text(message: Message, gettext: Gettext) -> str:
    """A grant's, refusal's or run error's message in the language of `gettext`."""
    return refusal_text(message.code, message.params, gettext)


def error_type_text(code: str, gettext: Gettext) -> str:
    """A validation error type in words of the language of `gettext`; a type the hub does not
    know (a newer frictionless's) as it is."""
    known = ERROR_TYPES.get(code)
    return gettext(known) if known else code


def _shown(value: Param, gettext: Gettext) -> str | int:
    """One parameter as the page shows it: a quoted message translated, a list comma-separated."""
    if isinstance(value, Message):
        return message_text(value, gettext)
    if isinstance(value, str | int):
        return value
    return ", ".join(value)
