"""The words of a derived alert: a rule's texts with their placeholders filled, and the hub's own
sentences (default description, an episode's end, a withdrawal, a cancel in error) in each
language a rule may write its texts in. French and English are the hub's; any other language
gets the English sentences beside the rule's own headline.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from hub.alerts.episodes import Period
from hub.alerts.rules import Rule

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

_ENGLISH = {
    "daily-mean": "daily mean",
    "hourly-mean": "hourly mean",
    "none": "value",
    "description": (
        "{rule_title}: at {station}, the {aggregation} was {value} {unit} for the period from "
        "{start} ({comparison} {threshold} {unit})."
    ),
    "ended": (
        "The episode is over: at {station}, the {aggregation} is back to {value} {unit} for the "
        "period from {start} (threshold {threshold} {unit})."
    ),
    "withdrawn": (
        "Withdrawn: the data now published for {station} no longer shows the {aggregation} "
        "{comparison} {threshold} {unit} that this alert reported."
    ),
    "ended_headline": "Ended: {headline}",
    "error_headline": "Cancelled, sent in error: {headline}",
    "error": "This alert was sent in error and is cancelled by {by}.",
    "reason": " Reason: {reason}",
    "credit": "{mention}. Licence: {licence} ({licence_uri}).",
    "credit_link": " Data: {link}",
}
_FRENCH = {
    "daily-mean": "moyenne journalière",
    "hourly-mean": "moyenne horaire",
    "none": "valeur",
    "description": (
        "À {station}, la {aggregation} a été de {value} {unit} pour la période débutant le "
        "{start} (seuil : {comparison} {threshold} {unit})."
    ),
    "ended": (
        "Fin de l'épisode : à {station}, la {aggregation} est redescendue à {value} {unit} pour "
        "la période débutant le {start} (seuil : {threshold} {unit})."
    ),
    "withdrawn": (
        "Alerte retirée : les données publiées désormais pour {station} ne montrent plus la "
        "{aggregation} {comparison} {threshold} {unit} que cette alerte signalait."
    ),
    "ended_headline": "Fin d'épisode : {headline}",
    "error_headline": "Annulée, envoyée par erreur : {headline}",
    "error": "Cette alerte a été envoyée par erreur ; {by} l'annule.",
    "reason": " Motif : {reason}",
    "credit": "{mention}. Licence : {licence} ({licence_uri}).",
    "credit_link": " Données : {link}",
}
SENTENCES = {"en": _ENGLISH, "fr": _FRENCH}


def sentence(language: str, name: str) -> str:
    """One of the hub's sentences in a CAP language (`fr-FR`, `en`), English by default."""
    return SENTENCES.get(language.lower().split("-")[0], _ENGLISH)[name]


def words(
    rule: Rule, key: tuple[str, ...], name: str, language: str, period: Period | None
) -> dict[str, str]:
    """What a rule's texts may name between braces, in `language`, for the series `key` named
    `name`."""
    local = ZoneInfo(rule.timezone)
    return {
        "station": name,
        "series": " ".join(key),
        "field": rule.field,
        "aggregation": sentence(language, rule.aggregation),
        "comparison": rule.comparison,
        "threshold": figure(rule.threshold),
        "unit": rule.unit,
        "rule": rule.id,
        "rule_title": rule.title,
        "value": figure(period.value) if period else "",
        "start": period.start.astimezone(local).isoformat(timespec="minutes") if period else "",
    }


def filled(template: str, named: dict[str, str]) -> str:
    """`{name}` placeholders replaced by their words; unknown ones left as written."""
    return PLACEHOLDER.sub(lambda m: named.get(m.group(1), m.group(0)), template).strip()


def figure(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
