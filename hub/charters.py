"""Data-sharing charters: load their versions, check them, say whether they permit a batch."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from hub import charterdays, registry
from hub.config import PROJECT_ROOT, get_settings
from hub.schemas import locate_line

log = logging.getLogger(__name__)

PROFILE_PATH = PROJECT_ROOT / "charters" / "charter.profile.json"
SUFFIX = ".yaml"
MIN_GROUP_SIZE = 10  # personal_data.min_group_size when a charter gives none

Location = tuple[str | int, ...]


class CharterError(Exception):
    """A charter cannot be used: a broken file, one the profile or the rules refuse, or none."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None) -> None:
        self.path, self.line = path, line
        super().__init__(message)


class UnknownCharterError(CharterError, LookupError):
    """No charter with that id in any charter folder."""

    def __init__(self, charter_id: str, known: Sequence[str]) -> None:
        self.charter_id, self.known = charter_id, list(known)
        listed = ", ".join(known) or "none"
        super().__init__(f"unknown charter {charter_id!r}; known charters: {listed}")


class CharterRefused(Exception):
    """A publication the charter does not permit; `reason` says why in one sentence."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Charter:
    """One version of a data-sharing charter, as checked at load."""

    id: str
    version: str
    title: str
    producer: str
    licence: dict[str, str]
    access: str
    restricted_to: list[str]
    purposes: list[str]
    gdpr_sensitive: bool
    personal_data: dict[str, Any] | None
    mandatory_mention: str | None
    valid_from: date
    valid_until: date | None
    signed: dict[str, Any] | None
    themes: list[str]
    schemas: list[str] | None
    path: Path
    purpose_required: bool = False  # a restricted or crisis read must declare a purpose
    exercises: bool = False  # crisis.exercises: an exercise crisis may open the records
    data_status: str = "actual"  # actual | exercise | test: what the records are (CAP status)

    def in_force(self, on: date) -> bool:
        """Whether the charter applies on that day (both bounds included)."""
        day = _day(on)
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def covers(self, theme: str, schema: str) -> bool:
        """Whether the charter covers this theme and schema (no `schemas`: any of its themes)."""
        return theme in self.themes and (self.schemas is None or schema in self.schemas)


@dataclass(frozen=True)
class MatchingField:
    """One value a person gives to prove which subject key is theirs (RUDI MatchingData)."""

    code: str
    label: dict[str, str] = field(hash=False)  # {"fr": …, "en": …}
    type: str = "string"  # string | integer | number | boolean | date
    required: bool = True
    pattern: str | None = None
    help: dict[str, str] | None = field(default=None, hash=False)

    def problem(self, value: object) -> str | None:
        """What is wrong with a value given for this field, never quoting it; None if fine."""
        text = self.text(value)
        if not text:
            return f"{self.code}: required" if self.required else None
        if not _has_type(text, value, self.type):
            return f"{self.code}: not a {self.type}"
        if self.pattern and re.fullmatch(self.pattern, text) is None:
            return f"{self.code}: not in the expected form"
        return None

    def text(self, value: object) -> str:
        """A value as the check reads it and the operator is sent it: a string, trimmed (JSON
        true as "true")."""
        if value is None:
            return ""
        return str(value).lower() if isinstance(value, bool) else str(value).strip()


@dataclass(frozen=True)
class PersonalTerms:
    """How a personal charter version ties rows to their data subjects (its personal_data)."""

    charter_id: str
    version: str
    producer: str  # whose key the pseudonyms are made under (hub.pseudonyms)
    subject_field: str
    legal_basis: str
    matching_data: tuple[MatchingField, ...]
    matching_url: str | None  # None only in versions written before the matching service
    retention_days: int
    min_group_size: int
    purposes: tuple[str, ...]
    valid_until: date | None = None  # the charter version's last day in force

    def matching_problems(self, given: Mapping[str, object]) -> list[str]:
        """What is wrong with a person's matching values (unknown codes, missing, ill-formed),
        without quoting any value; empty when they may go to the operator's check."""
        codes = {entry.code for entry in self.matching_data}
        problems = [f"{code}: not asked by this charter" for code in given if code not in codes]
        for entry in self.matching_data:
            problem = entry.problem(given.get(entry.code))
            if problem:
                problems.append(problem)
        return problems

    def matching_values(self, given: Mapping[str, object]) -> dict[str, str]:
        """The values to send the operator: those the charter asks, as `matching_problems`
        checked them (a meter number with a stray space, or sent as a JSON number, is the
        number the person meant)."""
        found = {entry.code: entry.text(given.get(entry.code)) for entry in self.matching_data}
        return {code: text for code, text in found.items() if text}


def personal_terms(charter_id: str, version: str) -> PersonalTerms | None:
    """The personal-data terms of a charter version (the latest version when that one is gone);
    None when the charter is not personal or cannot be read."""
    try:
        return _terms(charter_id, version, _generation())
    except CharterError:
        return None


@lru_cache(maxsize=1024)
def _terms(charter_id: str, version: str, generation: int) -> PersonalTerms | None:
    # Asked on every personal read and link: parsed once per charter generation.
    chosen = _version(charter_id, version, generation)
    return terms_of(chosen) if chosen else None


def terms_of(charter: Charter) -> PersonalTerms | None:
    """A loaded charter's personal-data terms; None unless its access is personal."""
    personal = charter.personal_data
    if charter.access != "personal" or not personal:
        return None
    return PersonalTerms(
        charter_id=charter.id,
        version=charter.version,
        producer=charter.producer,
        subject_field=personal["subject_field"],
        legal_basis=personal["legal_basis"],
        matching_data=tuple(_matching_field(entry) for entry in personal["matching_data"]),
        matching_url=personal.get("matching_url"),
        retention_days=int(personal["retention_days"]),
        min_group_size=int(personal.get("min_group_size", MIN_GROUP_SIZE)),
        purposes=tuple(charter.purposes),
        valid_until=charter.valid_until,
    )


def _matching_field(entry: str | dict[str, Any]) -> MatchingField:
    """An entry of matching_data; a bare code (older versions) is a required string."""
    if isinstance(entry, str):
        return MatchingField(code=entry, label={"fr": entry, "en": entry})
    return MatchingField(
        code=entry["code"],
        label=dict(entry["label"]),
        type=entry["type"],
        required=entry["required"],
        pattern=entry.get("pattern"),
        help=dict(entry["help"]) if "help" in entry else None,
    )


def _has_type(text: str, value: object, kind: str) -> bool:
    """Whether a matching value reads as its declared type (JSON true is no meter number)."""
    if isinstance(value, bool) != (kind == "boolean") and not isinstance(value, str):
        return False
    if kind == "integer":
        return isinstance(value, int) or re.fullmatch(r"[+-]?[0-9]+", text) is not None
    if kind == "number":
        try:
            float(text)
        except ValueError:
            return False
        return text.lower() not in ("nan", "inf", "+inf", "-inf", "infinity")
    if kind == "boolean":
        return isinstance(value, bool) or text.lower() in ("true", "false")
    if kind == "date":
        if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) is None:
            return False
        try:
            date.fromisoformat(text)
        except ValueError:
            return False
    return True


def known_charters() -> list[str]:
    """Ids of every charter in the charter folders, sorted."""
    return registry.known_charters()


def charter_versions(charter_id: str) -> list[Charter]:
    """Every version of a charter, oldest first, from the first folder that has the id."""
    for folder in _folders():
        files = [p for p in sorted(folder.glob(f"*{SUFFIX}")) if _file_id(p) == charter_id]
        if files:
            return _ordered([read_charter(path) for path in files])
    raise UnknownCharterError(charter_id, known_charters())


def load_charter(charter_id: str, on: date | None = None) -> Charter:
    """The version in force on `on` (default today in the territory), else the latest version."""
    versions = charter_versions(charter_id)
    return in_force_among(versions, on) or versions[-1]


def in_force_among(versions: list[Charter], on: date | None) -> Charter | None:
    """The version in force on `on`, None if none is: the newest version that has started by
    then, unless it has ended. A newer version replaces the older ones from its first day, so a
    version ending later renews the agreement and one ending sooner ends it early."""
    day = _day(on) if on is not None else charterdays.today()
    started = [charter for charter in versions if charter.valid_from <= day]
    return started[-1] if started and started[-1].in_force(day) else None


def current_version(charter_id: str, on: date | None = None) -> Charter | None:
    """The version of a charter in force on `on` (default the territory's today), None if none is;
    CharterError if the charter cannot be read. Cached: every non-open read asks."""
    day = _day(on) if on is not None else charterdays.today()
    return _current_version(charter_id, day, _generation())


@lru_cache(maxsize=1024)
def _current_version(charter_id: str, day: date, generation: int) -> Charter | None:
    return in_force_among(list(_versions(charter_id, generation)), day)


def read_versions(charter_id: str) -> list[Charter]:
    """Every version of a charter, oldest first, as reads see them: cached per charter
    generation (a refused read of an expired charter asks on every request). CharterError if
    the charter cannot be read. Publication reads the files themselves (`charter_versions`)."""
    return list(_versions(charter_id, _generation()))


@lru_cache(maxsize=256)
def _versions(charter_id: str, generation: int) -> tuple[Charter, ...]:
    return tuple(charter_versions(charter_id))


def _version(charter_id: str, version: str, generation: int) -> Charter | None:
    """The charter version a dataset was published under (the latest when that one is gone)."""
    versions = _versions(charter_id, generation)
    chosen = [c for c in versions if c.version == version] or versions[-1:]
    return chosen[0] if chosen else None


def restricted_to(charter_id: str, version: str) -> frozenset[str]:
    """Who a charter version opens its restricted records to; nobody if the charter is gone."""
    try:
        return _members(charter_id, version, _generation())
    except CharterError:
        return frozenset()  # a charter that cannot be read opens nothing


@lru_cache(maxsize=1024)
def _members(charter_id: str, version: str, generation: int) -> frozenset[str]:
    # Every read of a restricted dataset asks; parsing YAML and the profile each time would not do.
    chosen = _version(charter_id, version, generation)
    return frozenset(chosen.restricted_to) if chosen else frozenset()


@dataclass(frozen=True)
class PurposeTerms:
    """What a charter version lets its records be read for, and whether a reader must say."""

    purposes: tuple[str, ...]
    required: bool
    exercises: bool = False  # whether an exercise crisis may open the records (crisis.exercises)


def purpose_terms(charter_id: str, version: str) -> PurposeTerms | None:
    """A charter version's purposes; None if the charter cannot be read."""
    try:
        return _purpose_terms(charter_id, version, _generation())
    except CharterError:
        return None


@lru_cache(maxsize=1024)
def _purpose_terms(charter_id: str, version: str, generation: int) -> PurposeTerms | None:
    # Asked on every restricted or crisis read, as `restricted_to` is.
    chosen = _version(charter_id, version, generation)
    if chosen is None:
        return None
    return PurposeTerms(tuple(chosen.purposes), chosen.purpose_required, chosen.exercises)


CAP_STATUSES = {"actual": "Actual", "exercise": "Exercise", "test": "Test"}


def cap_status(charter_id: str, version: str) -> str:
    """The CAP status of the records a charter version covers (its `data_status`): Actual,
    or Exercise or Test for simulated data; Actual when the charter cannot be read."""
    try:
        chosen = _version(charter_id, version, _generation())
    except CharterError:
        return "Actual"
    return CAP_STATUSES.get(chosen.data_status, "Actual") if chosen else "Actual"


STAMP_SECONDS = 2.0  # a charter edit applies to reads within this long
_listings: dict[tuple[str, ...], tuple[float, int]] = {}


def _generation() -> int:
    """A number that changes when a charter file is added, removed or edited; the folders are
    listed again at most every STAMP_SECONDS."""
    folders = tuple(str(folder) for folder in get_settings().charter_dirs)
    now = time.monotonic()
    seen = _listings.get(folders)
    if seen and now - seen[0] < STAMP_SECONDS:
        return seen[1]
    stamp = tuple(
        (str(p), p.stat().st_mtime_ns)
        for folder in _folders()
        for p in sorted(folder.glob(f"*{SUFFIX}"))
    )
    generation = hash(stamp)
    _listings[folders] = (now, generation)
    return generation


def check_publication(
    charter: Charter | None, *, producer: str, theme: str, schema: str | None, on: date
) -> None:
    """Raise CharterRefused unless the charter lets this producer publish this data on that day."""
    reason = _refusal(charter, producer=producer, theme=theme, schema=schema, on=_day(on))
    if reason:
        log.info("publication refused: %s", reason)
        raise CharterRefused(reason)


def _refusal(
    charter: Charter | None, *, producer: str, theme: str, schema: str | None, on: date
) -> str:
    """The reason a publication is refused, or an empty string (`schema` None: no table)."""
    if charter is None:
        return (
            f"no charter: {producer!r} cannot publish {schema!r} ({theme}) without a charter "
            "in force"
        )
    name = f"charter {charter.id!r} version {charter.version}"
    if on < charter.valid_from:
        return f"{name} is not yet in force on {on}: it starts on {charter.valid_from}"
    if charter.valid_until is not None and on > charter.valid_until:
        return f"{name} has expired: it was in force until {charter.valid_until}, not on {on}"
    if charter.producer != producer:
        return (
            f"{name} belongs to producer {charter.producer!r}: {producer!r} cannot publish under it"
        )
    if theme not in charter.themes:
        return f"{name} covers the themes {', '.join(charter.themes)}, not {theme!r}"
    if schema is not None and charter.schemas is not None and schema not in charter.schemas:
        return f"{name} covers the schemas {', '.join(charter.schemas)}, not {schema!r}"
    return ""


# Keyed on the file's identity and mtime so an edited file is re-read, an unchanged one is not.
_cache: dict[tuple[Path, int, int], Charter] = {}


def read_charter(path: Path) -> Charter:
    """Read one charter file, checked against the profile and the load rules."""
    stat = path.stat()
    key = (path.resolve(), stat.st_mtime_ns, stat.st_size)
    if key not in _cache:
        _cache[key] = _parse(path, path.read_text(encoding="utf-8"))
    return _cache[key]


class _TextDatesLoader(yaml.SafeLoader):
    """SafeLoader that keeps dates as written, so the profile checks what the author typed."""


_TextDatesLoader.yaml_implicit_resolvers = {
    first: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _parse(path: Path, text: str) -> Charter:
    """Turn a charter file's text into a Charter, or raise CharterError with file and line."""
    try:
        data = yaml.load(text, Loader=_TextDatesLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise _file_error(path, [(line, f"not valid YAML: {exc.problem}")]) from None
    if not isinstance(data, dict):
        raise _file_error(path, [(1, "a charter must be a set of `field: value` lines")])
    problems = _profile_problems(data) or _rule_problems(data, path)
    if problems:
        raise _file_error(path, sorted((locate_line(text, where), msg) for where, msg in problems))
    return _charter(data, path)


@lru_cache(maxsize=1)
def _profile_validator() -> jsonschema.Draft202012Validator:
    """The JSON Schema validator of the charter profile, checking date formats too."""
    profile = json.loads(PROFILE_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(
        profile, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _profile_problems(data: dict[str, Any]) -> list[tuple[Location, str]]:
    """What the profile refuses, each with where it is and a hint for the usual YAML slips."""
    problems = []
    for error in _profile_validator().iter_errors(data):
        where = tuple(error.absolute_path)
        if error.validator == "additionalProperties":  # point at the stray key, often a typo
            known = error.schema.get("properties", {})
            where += tuple(key for key in error.instance if key not in known)[:1]
        message = error.message
        if error.validator == "type" and isinstance(error.instance, int | float | bool):
            message += " (put the value in quotes)"
        label = ".".join(str(step) for step in error.absolute_path)
        problems.append((where, f"{label}: {message}" if label else message))
    return problems


def _rule_problems(data: dict[str, Any], path: Path) -> list[tuple[Location, str]]:
    """The load rules the profile cannot express: personal data, restriction, dates, file name."""
    access, personal, sensitive = data["access"], data.get("personal_data"), data["gdpr_sensitive"]
    restricted_to = data.get("restricted_to")
    start, until = data["valid_from"], data.get("valid_until")
    names = (f"{data['id']}{SUFFIX}", f"{data['id']}@{data['version']}{SUFFIX}")
    rules: list[tuple[bool, Location, str]] = [
        (
            access == "personal" and not (personal and personal.get("subject_field")),
            ("access",),
            "a personal charter must name personal_data.subject_field, the field that ties each "
            "row to its data subject",
        ),
        (
            bool(personal or sensitive) and access != "personal",
            ("access",),
            f"personal data (gdpr_sensitive or personal_data) cannot be shared with access "
            f"{access!r}: only with access 'personal', which opens each row to its own subject",
        ),
        (
            access == "personal" and not sensitive,
            ("gdpr_sensitive",),
            "a personal charter must say gdpr_sensitive: true",
        ),
        (
            access == "restricted" and not restricted_to,
            ("access",),
            "a restricted charter must list who may read its records in restricted_to",
        ),
        (
            bool(restricted_to) and access not in ("restricted", "crisis"),
            ("restricted_to",),
            f"restricted_to means nothing for access {access!r}: use 'restricted' or remove it",
        ),
        (
            "crisis" in data and access != "crisis",
            ("crisis",),
            f"crisis means nothing for access {access!r}: use 'crisis' or remove it",
        ),
        (
            until is not None and date.fromisoformat(until) <= date.fromisoformat(start),
            ("valid_until",),
            f"valid_until {until} must be after valid_from {start}",
        ),
        (
            path.name not in names,
            ("id",),
            f"charter {data['id']!r} version {data['version']} must be in {' or '.join(names)}",
        ),
    ]
    found = [(where, message) for broken, where, message in rules if broken]
    return found + _matching_problems(personal or {})


def _matching_problems(personal: dict[str, Any]) -> list[tuple[Location, str]]:
    """What the profile cannot say of matching_data: codes once, patterns that compile, at
    least one value asked for sure, and where to ask (matching_url) for entries in full."""
    entries = personal.get("matching_data") or []
    where = ("personal_data", "matching_data")
    problems: list[tuple[Location, str]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        code = entry if isinstance(entry, str) else entry["code"]
        if code in seen:
            problems.append(((*where, index), f"matching data code {code!r} is listed twice"))
        seen.add(code)
        pattern = None if isinstance(entry, str) else entry.get("pattern")
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.append(
                    (
                        (*where, index, "pattern"),
                        f"the pattern of matching data {code!r} is not a regular expression: {exc}",
                    )
                )
    if entries and not any(isinstance(e, str) or e["required"] for e in entries):
        problems.append(
            (
                where,
                "at least one matching data entry must be required: a person must prove "
                "something to be linked to a subject's rows",
            )
        )
    full = [e for e in entries if not isinstance(e, str)]
    if full and not personal.get("matching_url"):
        problems.append(
            (
                ("personal_data",),
                "personal_data.matching_url is missing: the operator's matching service that "
                "checks the matching data (POST {dataset, matching} -> {subject_key} or 404)",
            )
        )
    return problems


def _charter(data: dict[str, Any], path: Path) -> Charter:
    """Build a Charter from profile-checked data."""
    signed = dict(data["signed"]) if "signed" in data else None
    if signed:
        signed["date"] = date.fromisoformat(signed["date"])
    until = data.get("valid_until")
    return Charter(
        id=data["id"],
        version=data["version"],
        title=data["title"],
        producer=data["producer"],
        licence=dict(data["licence"]),
        access=data["access"],
        restricted_to=list(data.get("restricted_to", [])),
        purposes=list(data["purposes"]),
        gdpr_sensitive=data["gdpr_sensitive"],
        personal_data=dict(data["personal_data"]) if "personal_data" in data else None,
        mandatory_mention=data.get("mandatory_mention"),
        valid_from=date.fromisoformat(data["valid_from"]),
        valid_until=date.fromisoformat(until) if until else None,
        signed=signed,
        themes=list(data["themes"]),
        schemas=list(data["schemas"]) if "schemas" in data else None,
        path=path,
        purpose_required=bool(data.get("purpose_required", False)),
        exercises=bool((data.get("crisis") or {}).get("exercises", False)),
        data_status=str(data.get("data_status", "actual")),
    )


def _ordered(versions: list[Charter]) -> list[Charter]:
    """Versions oldest first; two files for one version are refused."""
    versions.sort(key=lambda charter: _version_key(charter.version))
    for older, newer in zip(versions, versions[1:], strict=False):
        if _version_key(older.version) == _version_key(newer.version):
            raise CharterError(
                f"{newer.path}: charter {newer.id!r} version {newer.version} is "
                f"also defined in {older.path}",
                newer.path,
                1,
            )
    return versions


def _version_key(version: str) -> tuple[int, ...]:
    """Compare versions numerically, "1" equal to "1.0.0"."""
    parts = [int(part) for part in version.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def _file_id(path: Path) -> str:
    """The charter id a file name claims: ID.yaml or ID@VERSION.yaml."""
    return registry.charter_id_of(path)


def _folders() -> list[Path]:
    """The charter folders that exist, territory folders first."""
    return [folder for folder in get_settings().charter_dirs if folder.is_dir()]


def _file_error(path: Path, located: Sequence[tuple[int | None, str]]) -> CharterError:
    """A CharterError listing every problem as FILE:LINE: message."""
    lines = [f"{path}:{line}: {msg}" if line else f"{path}: {msg}" for line, msg in located]
    return CharterError("\n".join(lines), path, located[0][0])


def _day(on: date) -> date:
    """A calendar day; an instant counts as its day in the territory (hub.charterdays)."""
    return charterdays.day_of(on)
