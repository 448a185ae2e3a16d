"""Harvest source files: load, check and find the YAML files that say what to harvest."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hub import credits
from hub.config import get_settings

log = logging.getLogger(__name__)

THEMES = ("air-quality", "energy", "biodiversity", "risk")
OPERATOR_KINDS = ("public", "private")
REQUIRED_KEYS = ("id", "title", "operator", "theme", "format", "url", "charter")
# `schema` is required of formats that give records; grids and portal listings have none.
OPTIONAL_KEYS = ("schema", "schedule", "options", "enabled", "description", "auth")
OPERATOR_KEYS = ("id", "name", "kind", "email", "website")
# mappings whose keys' lines are kept for error messages
NESTED_KEYS = ("operator", "auth", "options")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Where a secret may be read from: an environment variable or a Prefect Secret block.
SECRET_REFERENCE = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|prefect:[a-z0-9][a-z0-9-]*)$")
WEBSITE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 9110 token
AUTH_FORMS = (
    "{header: NAME, secret: env:VAR}",
    "{basic: USER, secret: env:VAR}",
    "{bearer: env:VAR}",
)
SOURCE_SUFFIXES = (".yaml", ".yml")
# Options the harvest itself reads, not the reader: readers accept them besides their own.
HARVEST_OPTIONS = (
    "deadline", "max_invalid_share", "quarantine_cap", "snapshot", "max_withdrawn_share",
)  # fmt: skip
# Formats whose every feed is the whole dataset (an IPT archive, a GBIF download): rows it no
# longer holds are withdrawn unless the source says `snapshot: false`.
SNAPSHOT_FORMATS = ("dwca",)
MAX_WITHDRAWN_SHARE = 0.5  # a snapshot lacking more of the stored rows is a truncated feed


class SourceError(ValueError):
    """A harvest source file that cannot be used, with the file and line at fault."""

    def __init__(self, message: str, path: Path | None = None, line: int | None = None):
        where = f"{path}:{line}: " if path and line else f"{path}: " if path else ""
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


@dataclass(frozen=True)
class Operator:
    """Who publishes the feed."""

    id: str
    name: str
    kind: str = "public"
    email: str = ""  # whom reusers write to: the DCAT contact point, CKAN's maintainer_email
    website: str = ""


@dataclass(frozen=True)
class Auth:
    """How to authenticate to a private feed: the secret is named (`env:VAR`), never held."""

    kind: str  # header | basic | bearer
    secret: str  # a reference: env:VAR or prefect:BLOCK
    name: str = ""  # the header's name (header) or the user (basic)


@dataclass
class Source:
    """One harvest source: where a feed lives, how to read it, under which schema and charter."""

    id: str
    title: str
    operator: Operator
    theme: str
    format: str
    url: str
    schema: str  # "" for formats that give grids or portal listings
    charter: str
    schedule: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    description: str = ""
    auth: Auth | None = None
    path: Path | None = None

    @property
    def base_dir(self) -> Path | None:
        """The folder that relative `file:` urls of this source are resolved against."""
        return self.path.parent if self.path else None

    @property
    def deadline(self) -> float | None:
        """Seconds a whole fetch may take (`options.deadline`); None: `HUB_FETCH_DEADLINE`."""
        value = self.options.get("deadline")
        return None if value is None else float(value)

    @property
    def max_invalid_share(self) -> float | None:
        """The invalid share past which a batch is refused whole; None: the hub's setting."""
        value = self.options.get("max_invalid_share")
        return None if value is None else float(value)

    @property
    def snapshot(self) -> bool:
        """Whether each feed is the whole dataset (`options.snapshot`; on for dwca)."""
        return bool(self.options.get("snapshot", self.format in SNAPSHOT_FORMATS))

    @property
    def max_withdrawn_share(self) -> float:
        """The share of the stored rows a snapshot may withdraw at once."""
        value = self.options.get("max_withdrawn_share")
        return MAX_WITHDRAWN_SHARE if value is None else float(value)

    @property
    def quarantine_cap(self) -> int | None:
        """The quarantined rows past which a batch is refused whole; None: the hub's setting."""
        value = self.options.get("quarantine_cap")
        return None if value is None else int(value)


def load_source(path: Path | str, *, strict: bool = False) -> Source:
    """Load and check one harvest source file.

    `strict`: also refuse what its harvest would refuse before reading a row (a schema or
    charter no folder holds, an option nobody reads), as listing and scheduling sources must.
    Harvesting the file itself does not ask it: the harvest records that refusal in the
    dataset's run history."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read source file: {exc}", path) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SourceError(f"not valid YAML: {getattr(exc, 'problem', exc)}", path, line) from exc
    if not isinstance(node, yaml.MappingNode) or not isinstance(data, dict):
        raise SourceError("a source file must be a YAML mapping (key: value lines)", path, 1)
    lines = _key_lines(node, path)
    return _build_source(data, lines, path, strict)


def _key_lines(node: yaml.MappingNode, path: Path, prefix: str = "") -> dict[str, int]:
    """The line of each key (nested keys as `parent.child`), refusing duplicate keys."""
    lines: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = f"{prefix}{key_node.value}"
        line = key_node.start_mark.line + 1
        if key in lines:
            raise SourceError(f"duplicate key {key!r} (first on line {lines[key]})", path, line)
        lines[key] = line
        if isinstance(value_node, yaml.MappingNode) and not prefix and key in NESTED_KEYS:
            lines.update(_key_lines(value_node, path, prefix=f"{key}."))
    return lines


Fail = Callable[..., SourceError]


def _build_source(data: dict[str, Any], lines: dict[str, int], path: Path, strict: bool) -> Source:
    """Check the keys and values of a parsed source file and build the Source."""

    def fail(message: str, key: str | None = None) -> SourceError:
        # A missing key has no line of its own: point at the top of the file.
        return SourceError(message, path, lines.get(key, 1) if key else 1)

    _check_required(data, fail)
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise fail("options must be a mapping", "options")
    _check_deadline(options.get("deadline"), fail)
    _check_limits(options, fail)
    if strict:
        _check_options(data["format"], options, fail)
        _check_references(data, fail)
    return Source(
        id=data["id"],
        title=data["title"],
        operator=_build_operator(data["operator"], fail),
        theme=data["theme"],
        format=data["format"],
        url=data["url"],
        schema=data.get("schema") or "",
        charter=data["charter"],
        schedule=_checked_schedule(data.get("schedule"), fail),
        options=options,
        enabled=_checked_type(data, "enabled", bool, True, fail),
        description=_checked_type(data, "description", str, "", fail).strip(),
        auth=_build_auth(data.get("auth"), data["url"], fail),
        path=path.resolve(),
    )


def _check_required(data: dict[str, Any], fail: Fail) -> None:
    """Refuse unknown keys and missing or malformed required ones."""
    for key in data:
        if key not in REQUIRED_KEYS + OPTIONAL_KEYS:
            known = ", ".join(REQUIRED_KEYS + OPTIONAL_KEYS)
            raise fail(f"unknown key {key!r} (known keys: {known})", str(key))
    for key in REQUIRED_KEYS:
        if data.get(key) in (None, ""):
            raise fail(f"missing required key {key!r}")
        if key != "operator" and not isinstance(data[key], str):
            raise fail(f"{key!r} must be a string, got {type(data[key]).__name__}", key)
    if not ID_PATTERN.match(data["id"]):
        raise fail(f"id {data['id']!r} must be lower-case letters, digits, '.', '_' or '-'", "id")
    if data["theme"] not in THEMES:
        raise fail(f"theme {data['theme']!r} is not one of {', '.join(THEMES)}", "theme")
    _check_format(data["format"], fail)
    _check_schema(data, fail)


def _check_deadline(deadline: object, fail: Fail) -> None:
    """`options.deadline`, if given, is a whole fetch's limit in seconds: a positive number."""
    if deadline is None:
        return
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or deadline <= 0:
        raise fail(
            f"options.deadline must be a positive number of seconds, got {deadline!r}", "options"
        )


def _check_limits(options: dict[str, Any], fail: Fail) -> None:
    """`options.max_invalid_share` and `max_withdrawn_share` are shares (0 to 1),
    `options.quarantine_cap` a row count, `options.snapshot` a boolean."""
    share, cap = options.get("max_invalid_share"), options.get("quarantine_cap")
    if share is not None and (
        isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1
    ):
        raise fail(
            "options.max_invalid_share must be a share of the rows read, from 0 to 1 "
            f"(0.2 for 20 %), got {share!r}",
            "options",
        )
    withdrawn = options.get("max_withdrawn_share")
    if withdrawn is not None and (
        isinstance(withdrawn, bool) or not isinstance(withdrawn, int | float)
        or not 0 <= withdrawn <= 1
    ):  # fmt: skip
        raise fail(
            "options.max_withdrawn_share must be a share of the stored rows, from 0 to 1 "
            f"(0.5 for 50 %), got {withdrawn!r}",
            "options",
        )
    if not isinstance(options.get("snapshot", False), bool):
        raise fail(
            f"options.snapshot must be true or false, got {options['snapshot']!r}", "options"
        )
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
        raise fail(
            f"options.quarantine_cap must be a whole number of rows (0 or more), got {cap!r}",
            "options",
        )


def _checked_schedule(schedule: object, fail: Fail) -> str | None:
    """A cron expression (5 or 6 fields), or None when the source is harvested on demand."""
    if schedule is None:
        return None
    if not isinstance(schedule, str) or len(schedule.split()) not in (5, 6):
        raise fail(
            f"schedule {schedule!r} must be a cron expression like '*/15 * * * *'", "schedule"
        )
    # Prefect's own rule, so the runner agrees: croniter's check (Prefect runs a vendored copy,
    # but importing it imports Prefect, 0.8 s the API process would pay) and no random or hashed
    # fields. A cron Prefect refuses (`61 25 * * *`) would stop every schedule at `hub serve`.
    from croniter import croniter

    tokens = {token.casefold() for token in schedule.split()}
    if not croniter.is_valid(schedule) or tokens & {"r", "h"}:
        raise fail(
            f"schedule {schedule!r} is not a cron expression Prefect can run: the fields are "
            "minute 0-59, hour 0-23, day 1-31, month 1-12 and weekday 0-7",
            "schedule",
        )
    return schedule


def _checked_type(data: dict[str, Any], key: str, kind: type, default: Any, fail: Fail) -> Any:
    """An optional key's value, refusing one of the wrong type."""
    value = data.get(key)
    if value is None:
        return default
    if not isinstance(value, kind):
        raise fail(f"{key} must be a {kind.__name__}, got {value!r}", key)
    return value


def _build_operator(value: object, fail: Fail) -> Operator:
    """Check the `operator: {id, name, kind}` mapping."""
    if not isinstance(value, dict):
        raise fail("operator must be a mapping {id, name, kind}", "operator")
    for key in value:
        if key not in OPERATOR_KEYS:
            raise fail(
                f"unknown key {key!r} in operator (known: {', '.join(OPERATOR_KEYS)})",
                f"operator.{key}",
            )
    for key in ("id", "name"):
        if not isinstance(value.get(key), str) or not value[key]:
            raise fail(f"missing required key 'operator.{key}'", "operator")
    kind = value.get("kind", "public")
    if kind not in OPERATOR_KINDS:
        raise fail(f"operator kind {kind!r} must be public or private", "operator.kind")
    email, website = value.get("email", ""), value.get("website", "")
    if not isinstance(email, str) or (email and not credits.valid_email(email)):
        raise fail(f"operator email {email!r} is not an e-mail address", "operator.email")
    if not isinstance(website, str) or (website and not WEBSITE.fullmatch(website)):
        raise fail(f"operator website {website!r} is not an http(s) URL", "operator.website")
    return Operator(value["id"], value["name"], kind, email.strip(), website.strip())


def _build_auth(value: object, url: str, fail: Fail) -> Auth | None:
    """Check an `auth:` mapping; its messages never repeat a value, which may be a secret."""
    if value is None:
        return None
    forms = " or ".join(AUTH_FORMS)
    if not isinstance(value, dict):
        raise fail(f"auth must be a mapping: {forms}", "auth")
    if not url.lower().startswith(("http://", "https://")):
        raise fail("auth applies to http(s) urls only", "auth")
    keys = set(value)
    if keys == {"bearer"}:
        return Auth("bearer", _checked_reference(value, "bearer", fail))
    if keys not in ({"header", "secret"}, {"basic", "secret"}):
        raise fail(
            f"unknown auth form with keys {', '.join(sorted(map(str, keys)))} (use {forms})", "auth"
        )
    kind = "header" if "header" in keys else "basic"
    name = value[kind]
    if not isinstance(name, str) or not name or (kind == "header" and not HEADER_NAME.match(name)):
        raise fail(
            f"auth.{kind} must be a {'header name' if kind == 'header' else 'user name'}",
            f"auth.{kind}",
        )
    return Auth(kind, _checked_reference(value, "secret", fail), name)


def _checked_reference(value: dict[str, Any], key: str, fail: Fail) -> str:
    """A secret reference (`env:VAR`, `prefect:BLOCK`); a literal secret is refused unread."""
    reference = value[key]
    if not isinstance(reference, str) or not SECRET_REFERENCE.match(reference):
        raise fail(
            f"auth.{key} must name a secret as env:VAR or prefect:BLOCK; a secret written "
            "in a source file is refused (its value is not repeated here)",
            f"auth.{key}",
        )
    return reference


def _check_format(name: str, fail: Fail) -> None:
    """Refuse a format no reader handles, naming the ones that exist."""
    # Imported here: the readers import Source from this module.
    from pipelines.readers import known_formats

    if name not in known_formats():
        raise fail(
            f"unknown format {name!r} (known readers: {', '.join(known_formats())})", "format"
        )


def _check_schema(data: dict[str, Any], fail: Fail) -> None:
    """A format that gives records needs a target schema; the others take none."""
    from pipelines.readers import kind_of

    kind, schema = kind_of(data["format"]), data.get("schema")
    if kind == "records" and schema in (None, ""):
        raise fail(f"missing required key 'schema' (format {data['format']!r} gives records)")
    if kind != "records" and schema not in (None, ""):
        raise fail(
            f"format {data['format']!r} gives {kind}, which have no table schema: "
            "remove the 'schema' key",
            "schema",
        )
    if schema not in (None, "") and not isinstance(schema, str):
        raise fail(f"'schema' must be a string, got {type(schema).__name__}", "schema")


def _check_options(format_name: str, options: dict[str, Any], fail: Fail) -> None:
    """Refuse an option the harvest would refuse (a misspelt `delimter`), before any harvest."""
    from pipelines.readers import unknown_options

    unknown, known = unknown_options(format_name, map(str, options))
    if unknown:
        raise fail(
            f"unknown option(s) {', '.join(unknown)} (known for {format_name}: {', '.join(known)})",
            f"options.{unknown[0]}",
        )


def _check_references(data: dict[str, Any], fail: Fail) -> None:
    """Refuse a schema or charter that no folder holds, as the harvest would; by file name
    only (hub.registry): listing sources must not parse every schema and charter."""
    from hub import registry

    schema = data.get("schema")
    if schema and "/" not in schema and "\\" not in schema and not schema.endswith(".json"):
        if registry.schema_file(schema) is None:
            known = ", ".join(registry.known_schemas()) or "none"
            raise fail(f"unknown schema {schema!r}; known schemas: {known}", "schema")
    elif schema and not Path(schema).is_file():
        raise fail(f"no such schema file {schema!r}", "schema")
    charter = data["charter"]
    known_charters = registry.known_charters()
    if charter not in known_charters:
        known = ", ".join(known_charters) or "none"
        raise fail(f"unknown charter {charter!r}; known charters: {known}", "charter")


@dataclass(frozen=True)
class Survey:
    """The source files of the configured folders: those that can be harvested, and those that
    cannot (loaded strictly: their harvest would be refused), each with its reason. One broken
    file is named and left out; it never stops the others from being listed, scheduled or
    harvested."""

    sources: list[Source]
    problems: list[SourceError]


def survey_sources() -> Survey:
    """Every source file of the configured folders; a territory's file shadows a bundled one.
    Two files of one folder claiming one id are both left out (neither is meant more than the
    other), and that id is not taken from a later folder either."""
    found: dict[str, Source] = {}
    problems: list[SourceError] = []
    blocked: set[str] = set()
    for folder in get_settings().source_dirs:
        in_folder: dict[str, list[Source]] = {}
        for path in _source_files(folder):
            try:
                source = load_source(path, strict=True)
            except SourceError as problem:
                problems.append(problem)
                continue
            in_folder.setdefault(source.id, []).append(source)
        for source_id, claimants in in_folder.items():
            if source_id in blocked:
                continue
            if len(claimants) > 1:
                files = ", ".join(str(c.path) for c in claimants)
                problems += [
                    SourceError(
                        f"id {source_id!r} is also used by {files}: none is harvested", c.path
                    )
                    for c in claimants
                ]
                blocked.add(source_id)
                continue
            source = claimants[0]
            if source_id in found:
                log.info(
                    "source %s in %s shadows %s", source_id, found[source_id].path, source.path
                )
                continue
            found[source_id] = source
    return Survey(sorted(found.values(), key=lambda s: s.id), problems)


def find_sources() -> list[Source]:
    """The source files that can be harvested; each one that cannot is logged and left out."""
    survey = survey_sources()
    for problem in survey.problems:
        log.warning("source file left out: %s", problem)
    return survey.sources


def _source_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in SOURCE_SUFFIXES and p.is_file())


def resolve_source(id_or_path: str | Path) -> Source:
    """The source with this id, or the one in this file."""
    text = str(id_or_path)
    path = Path(text)
    if path.suffix in SOURCE_SUFFIXES or path.is_file():
        if not path.is_file():
            raise SourceError("no such source file", path)
        return load_source(path)
    survey = survey_sources()
    for source in survey.sources:
        if source.id == text:
            return source
    known = ", ".join(s.id for s in survey.sources) or "none"
    unreadable = "".join(f"; unreadable: {problem}" for problem in survey.problems)
    raise SourceError(f"no source with id {text!r} (known: {known}){unreadable}")
