"""What My data's forms answer: the message codes their redirects carry back to /me
(Post/Redirect/Get, so a reload never posts twice), and the refusals of visitors who are no
subject or whose form is not their own."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from fastapi import Request
from starlette.responses import Response

from hub.api.origin import site_path
from hub.ui.pages import N_, forged_form, redirect, render
from hub.ui.visitors import Visitor

HOME = "/me"


NO_CACHE = {"Cache-Control": "private, no-store"}  # personal pages stay out of every cache


# Message codes a form's redirect carries, with their text and whether they report a success.
FLASHES: dict[str, tuple[str, bool]] = {
    "linked": (N_("Your data is linked: it is shown below."), True),
    "unlinked": (N_("The link is removed. Consents no longer cover these rows."), True),
    "link-bad": (N_("Some details are missing or not in the expected form."), False),
    "link-nomatch": (
        N_(
            "The operator found no data for these details. Check them and try again: "
            "for your safety, the hub cannot say which one is wrong."
        ),
        False,
    ),
    "link-throttled": (
        N_("Too many attempts at linking to this dataset. Wait an hour, then try again."),
        False,
    ),
    "link-unavailable": (
        N_("The operator's matching service cannot answer just now. Try again later."),
        False,
    ),
    "link-refused": (N_("This dataset cannot be linked."), False),
    "link-unknown": (N_("There is no such link on your account: nothing was changed."), False),
    "consent-given": (N_("Your consent is recorded. Its receipt is shown below."), True),
    "consent-revoked": (
        N_("The consent is revoked: the service can no longer read these rows."),
        True,
    ),
    "consent-service": (N_("Choose one of the registered services."), False),
    "consent-datasets": (N_("Choose at least one of your linked datasets."), False),
    "consent-purpose": (N_("Choose a purpose the datasets' charter allows."), False),
    "consent-expiry": (N_("Give an end date after today."), False),
    "consent-expiry-late": (
        N_("Give an earlier end date: a consent lasts at most a year, and ends with the charter."),
        False,
    ),
    "consent-producers": (
        N_("A consent covers the datasets of one producer: give one consent per producer."),
        False,
    ),
    "consent-refused": (N_("This consent cannot be recorded."), False),
    "consent-unknown": (
        N_("There is no such consent on your account: nothing was changed."),
        False,
    ),
    "download-failed": (N_("This download cannot be made just now."), False),
}


# The form field a consent message is about, so the page ties the message to it.
CONSENT_FIELDS = {
    "consent-service": "consent-service",
    "consent-datasets": "consent-datasets",
    "consent-purpose": "consent-purpose",
    "consent-expiry": "consent-expires",
    "consent-expiry-late": "consent-expires",
    "consent-producers": "consent-datasets",
}


def anchor(dataset_id: str) -> str:
    """A dataset's fragment id on the page."""
    return "ds-" + re.sub(r"[^A-Za-z0-9_-]+", "-", dataset_id)


def back(request: Request, code: str, fragment: str, **more: object) -> Response:
    """The 303 back to the page with a message code (Post/Redirect/Get); a list in `more` is
    one parameter per item. `fragment` is the id of the element showing the message (`flash`
    at the top, or the one beside its form): a browser focuses a fragment's target on load, so
    a fragment naming anything else would take focus away from the message (errors.js)."""
    query = urlencode({"flash": code, **{k: v for k, v in more.items() if v}}, doseq=True)
    return redirect(request, f"{HOME}?{query}{'#' + fragment if fragment else ''}")


def refusal(request: Request, visitor: Visitor) -> Response | None:
    """The answer to a visitor who is no subject: sign in first, or a page saying why not."""
    actor = visitor.actor
    if actor.anonymous:
        return redirect(request, f"/signin?{urlencode({'next': site_path(request.scope, HOME)})}")
    if actor.role != "subject" or not actor.account:
        return render(request, visitor, "mydata.html", {"state": "role"}, 403)
    return None


def form_checked(request: Request, visitor: Visitor, submitted: str) -> Response | None:
    """The refusal of a form post: not a subject, or not the visitor's own form token."""
    return refusal(request, visitor) or forged_form(request, visitor, submitted, "mydata.html")
