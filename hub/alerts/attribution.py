"""Whose data a derived alert republishes, and whether its licence lets the hub derive alerts.

A derived alert repeats a source's measurements (the value, the station, the period), so it is a
reuse of that dataset: it carries the attribution the source's charter requires (its mandatory
mention, its licence and a link to the data) in every info block, and the hub derives alerts
only from a dataset whose licence asks nothing more than attribution. The alerts are published
under the hub's Licence Ouverte 2.0 (charters/hub-derived-alerts.yaml), which cannot honour a
share-alike clause (ODbL, CC BY-SA), a non-commercial one, a bespoke agreement, or the absence
of any licence (nothing granted, so nothing may be republished).
"""

from __future__ import annotations

from dataclasses import dataclass

from hub import licences
from hub.alerts.wording import filled, sentence
from hub.config import get_settings
from hub.models import Dataset

# What the derived-alerts charter honours: attribution, carried in each alert.
HONOURED = frozenset({licences.ATTRIBUTION})


@dataclass(frozen=True)
class Credit:
    """The attribution a source dataset's charter requires of a reuse."""

    mention: str  # the charter's mandatory mention, else "Source: <dataset title>"
    licence: str  # the licence's name
    licence_uri: str
    link: str | None  # the data: its page on the hub, else its source's; an absolute URL

    def text(self, language: str) -> str:
        """The attribution as one sentence in a CAP language."""
        named = {
            "mention": self.mention.rstrip(". "),
            "licence": self.licence,
            "licence_uri": self.licence_uri,
        }
        told = filled(sentence(language, "credit"), named)
        if self.link:
            told += " " + filled(sentence(language, "credit_link"), {"link": self.link})
        return told


def refusal(licence_id: str) -> str | None:
    """Why alerts may not be derived from data under a licence; None when they may."""
    licence = licences.standard(licence_id)
    if licence is None:
        return f"its licence {licence_id!r} is a bespoke agreement the hub cannot judge"
    asked = licence.conditions - HONOURED
    if not licence.open or asked:
        owed = ", ".join(sorted(licences.CONDITION_WORDS[c] for c in asked)) or "not open"
        return f"its licence {licence.title} asks for {owed}, which derived alerts cannot honour"
    return None


def credit_of(dataset: Dataset) -> tuple[Credit | None, str | None]:
    """The attribution alerts derived from a dataset carry (from the licence and mention its
    charter gave it at publication), or why none may be derived from it."""
    why = refusal(dataset.licence_id or licences.NOT_SPECIFIED)
    if why is not None:
        return None, why
    root = get_settings().public_url.strip().rstrip("/")
    link = f"{root}/datasets/{dataset.id}" if root else dataset.source_url
    credit = Credit(
        mention=dataset.mandatory_mention or f"Source: {dataset.title}",
        licence=dataset.licence_title or dataset.licence_id,
        licence_uri=dataset.licence_url,
        link=link if link.startswith(("https://", "http://")) else None,
    )
    return credit, None
