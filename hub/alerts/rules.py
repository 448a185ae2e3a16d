"""Threshold rules of derived alerts: YAML files in `alert-rules/` (and HUB_ALERT_RULES_PATH).

Each file holds one rule, checked against `alert-rules/rule.schema.json` and then against the
schema it names (its fields must exist, the compared one must be a number). A broken file is a
RuleError naming the file and the field at fault; the other files still load.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema
import yaml

from hub import schemas
from hub.config import PROJECT_ROOT, get_settings

BUNDLED = PROJECT_ROOT / "alert-rules"
PROFILE = BUNDLED / "rule.schema.json"
NUMBERS = ("number", "integer")
# `alert.expires_after`, as rule.schema.json has it: days, hours and minutes
DURATION = re.compile(r"^P(?=\d|T\d)(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?)?$")

log = logging.getLogger(__name__)


class RuleError(ValueError):
    """A rule file the hub cannot use: its path, and each field at fault with the reason."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        super().__init__(f"{path}: " + "; ".join(problems))
        self.path, self.problems = path, problems


@dataclass(frozen=True)
class Wording:
    """The texts of one CAP `<info>`, in one language."""

    language: str
    event: str
    headline: str
    sender_name: str = "Territorial data hub"
    description: str = ""
    instruction: str = ""


@dataclass(frozen=True)
class AlertText:
    """What the CAP alert of an episode says, as the rule declares it: its codes, and its texts
    in one language (`headline`, `language` …) or several (`languages`, in order)."""

    event: str
    category: str
    severity: str
    urgency: str
    certainty: str
    headline: str = ""
    response: str = ""
    language: str = "en"
    sender_name: str = "Territorial data hub"
    description: str = ""
    instruction: str = ""
    radius_km: float = 1.0
    expires_after: timedelta | None = None  # None: the rule's default (hub.alerts.messages)
    languages: tuple[Wording, ...] = ()

    @property
    def wordings(self) -> tuple[Wording, ...]:
        """The texts of each info block, in order: `languages`, else the single language."""
        if self.languages:
            return self.languages
        return (
            Wording(
                self.language,
                self.event,
                self.headline,
                self.sender_name,
                self.description,
                self.instruction,
            ),
        )


@dataclass(frozen=True)
class Rule:
    """One threshold rule on the series of a schema's records."""

    id: str
    title: str
    schema: str
    field: str
    aggregation: str  # none | hourly-mean | daily-mean
    comparison: str  # > >= < <=
    threshold: float
    series: tuple[str, ...]
    alert: AlertText
    where: dict[str, str] = dataclasses.field(default_factory=dict)
    datasets: tuple[str, ...] = ()  # empty: every open dataset of the schema
    timezone: str = "UTC"
    stamped: str = "start"  # start | end: which end of its averaging period a time marks
    min_count: int = 1
    unit: str = ""
    sender: str = ""
    path: Path = Path()

    def exceeds(self, value: float) -> bool:
        """Whether a (possibly aggregated) value crosses the threshold."""
        limit = self.threshold
        return {
            ">": value > limit,
            ">=": value >= limit,
            "<": value < limit,
            "<=": value <= limit,
        }[self.comparison]

    def applies_to(self, schema: str, dataset_id: str) -> bool:
        """Whether records of this schema and dataset are judged by the rule."""
        return schema == self.schema and (not self.datasets or dataset_id in self.datasets)


def rule_dirs() -> list[Path]:
    """Territory rule folders first, then the bundled one."""
    return [*get_settings().alert_rules_path, BUNDLED]


def load_rules(folders: list[Path] | None = None) -> list[Rule]:
    """Every rule of the folders (a territory's id hides a bundled one); RuleError if any is
    broken."""
    rules, errors = read_rules(folders)
    if errors:
        raise errors[0]
    return rules


def read_rules(folders: list[Path] | None = None) -> tuple[list[Rule], list[RuleError]]:
    """The usable rules of the folders, and the errors of the broken files."""
    found: dict[str, Rule] = {}
    errors: list[RuleError] = []
    for folder in folders if folders is not None else rule_dirs():
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                rule = read_rule(path)
            except RuleError as exc:
                errors.append(exc)
                continue
            found.setdefault(rule.id, rule)
    return list(found.values()), errors


def read_rule(path: Path) -> Rule:
    """One rule file, checked; RuleError naming the file and the field otherwise."""
    stat = path.stat()
    return _read_rule(path.resolve(), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=256)
def _read_rule(path: Path, mtime: int, size: int) -> Rule:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise RuleError(path, ["a rule must be a set of `field: value` lines"])
    problems = [_described(error) for error in _validator().iter_errors(data)]
    if problems:
        raise RuleError(path, sorted(problems))
    problems = _schema_problems(data)
    if problems:
        raise RuleError(path, problems)
    return _rule(data, path)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(PROFILE.read_text(encoding="utf-8")))


def _described(error: jsonschema.ValidationError) -> str:
    """A profile error as `field 'alert.severity': 'Bad' is not one of …`."""
    where = ".".join(str(step) for step in error.absolute_path)
    if error.validator == "additionalProperties":
        known = error.schema.get("properties", {})
        extra = [key for key in error.instance if key not in known]
        where = ".".join([where, *extra[:1]]) if where else ",".join(extra)
        return f"field {where!r}: unknown field (a typo?)"
    if error.validator == "anyOf":  # the alert's texts: in one language or several
        return f"field {where!r}: needs a `headline` or `languages`"
    if error.validator == "required":
        return f"field {error.message.split(chr(39))[1]!r}: missing" + (
            f" in {where!r}" if where else ""
        )
    return f"field {where!r}: {error.message}" if where else error.message


def _schema_problems(data: dict[str, Any]) -> list[str]:
    """What the named schema refuses: unknown fields, a compared field that is no number."""
    try:
        schema = schemas.load_schema(data["schema"])
    except Exception as exc:  # noqa: BLE001 — any reason the schema cannot be had is the message
        return [f"field 'schema': {data['schema']!r} cannot be loaded: {exc}"]
    descriptor = schema.descriptor
    types = {f["name"]: f.get("type", "string") for f in descriptor["fields"]}
    problems = []
    told = [entry["language"].lower() for entry in (data["alert"].get("languages") or [])]
    if len(told) != len(set(told)):
        problems.append("field 'alert.languages': a language is given twice")
    if not (descriptor.get("hub") or {}).get("time"):
        problems.append(f"field 'schema': {data['schema']!r} has no time field to judge series by")
    if data["field"] not in types:
        problems.append(f"field 'field': {data['field']!r} is not a field of {data['schema']}")
    elif types[data["field"]] not in NUMBERS:
        problems.append(f"field 'field': {data['field']!r} is a {types[data['field']]}, no number")
    for name in ("series", "where"):
        for value in data.get(name) or []:
            if value not in types:
                problems.append(f"field {name!r}: {value!r} is not a field of {data['schema']}")
    try:
        ZoneInfo(data.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"field 'timezone': {data['timezone']!r} is not a known time zone")
    return problems


def _rule(data: dict[str, Any], path: Path) -> Rule:
    alert = data["alert"]
    return Rule(
        id=data["id"],
        title=data["title"],
        schema=data["schema"],
        field=data["field"],
        aggregation=data["aggregation"],
        comparison=data["comparison"],
        threshold=float(data["threshold"]),
        series=tuple(data["series"]),
        alert=AlertText(**_alert_text(alert)),
        where={k: str(v) for k, v in (data.get("where") or {}).items()},
        datasets=tuple(data.get("datasets") or ()),
        timezone=data.get("timezone", "UTC"),
        stamped=data.get("stamped", "start"),
        min_count=data.get("min_count", 1),
        unit=data.get("unit", ""),
        sender=data.get("sender", ""),
        path=path,
    )


def _alert_text(alert: dict[str, Any]) -> dict[str, Any]:
    """The `alert` block as AlertText takes it: `expires_after` as a duration, the older
    `expires_hours` (hours, counted from `sent` before 2026-12) read as one, and each of
    `languages` as a Wording (its `event` and `sender_name` default to the alert's)."""
    text = {key: value for key, value in alert.items() if key != "expires_hours"}
    if "languages" in text:
        shared = {"event": alert["event"], "sender_name": alert.get("sender_name")}
        shared = {key: value for key, value in shared.items() if value}
        text["languages"] = tuple(Wording(**{**shared, **entry}) for entry in alert["languages"])
    if "expires_after" in text:
        text["expires_after"] = duration(text["expires_after"])
    elif alert.get("expires_hours") is not None:
        text["expires_after"] = timedelta(hours=alert["expires_hours"])
    return text


def duration(text: str) -> timedelta:
    """An ISO 8601 duration of days, hours and minutes (`P1D`, `PT3H`, `P1DT12H`, `PT90M`)."""
    match = DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration such as PT3H or P1D")
    days, hours, minutes = (int(part or 0) for part in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)
