"""Files of a portal's datasets, harvested as sources of their own by the portal's `options.files`.

A portal source (`ckan`, `dcat`, `rudi`) lists datasets and links to their files. Its rules say
which files the hub also reads, and with which reader:

    options:
      files:
        - formats: [netcdf, application/x-netcdf]   # the portal's format names, any case
          reader: netcdf
        - formats: [csv]
          names: ["*measurements*.csv"]             # globs on the file's name or url
          reader: openaq-csv
          schema: air-quality-observation
          options: {timezone: Europe/Paris}         # the reader's options, as a source's
      files_limit: 20                               # most files read per harvest

After the listing is published, each listed dataset's files that a rule fits (the first rule
wins) are harvested through `pipelines.harvesting` as a `FileSource`: the portal's operator,
theme, charter and deadline, its credentials only for a file on the portal's own origin, a
cursor of its own (conditional requests), and its batch joining the portal's dataset.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hub.batches import AnyBatch, FileResource, MetadataBatch, PortalDataset
from hub.catalogue import record_failure
from hub.redaction import redact_text, redact_url
from pipelines import readers
from pipelines.credentials import origin_of
from pipelines.readers import ReaderError
from pipelines.sources import Source

if TYPE_CHECKING:
    from pipelines.harvesting import Outcome

log = logging.getLogger(__name__)

FILES_LIMIT = 20
RULE_KEYS = ("formats", "names", "reader", "schema", "options")
KEY_LENGTH = 99  # a cursor's and a run's source id hold 100 characters
FAILURES_SHOWN = 3
HARVESTED = ("succeeded", "partial")


@dataclass(frozen=True)
class FileRule:
    """Which files of a portal's datasets to read (by format and name), and how."""

    reader: str
    formats: frozenset[str] = frozenset()  # lower case; empty: any format
    names: tuple[str, ...] = ()  # lower-case globs; empty: any name
    schema: str = ""
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def fits(self, file: FileResource) -> bool:
        """Whether this rule reads the file: its format listed, a glob matching its name or url."""
        if self.formats and file.format.strip().lower() not in self.formats:
            return False
        path = urlsplit(file.url).path
        candidates = [c.lower() for c in (file.name, file.url, path.rsplit("/", 1)[-1]) if c]
        return not self.names or any(fnmatchcase(c, g) for c in candidates for g in self.names)


@dataclass(frozen=True)
class FilePlan:
    """A portal source's file rules and how many files one harvest reads at most."""

    rules: tuple[FileRule, ...] = ()
    limit: int = FILES_LIMIT


@dataclass
class FileSource(Source):
    """A file of a portal's dataset, harvested as a source of its own; its batch joins `joins`."""

    joins: PortalDataset | None = None


def plan_of(source: Source) -> FilePlan:
    """A portal source's `options.files` and `options.files_limit`, checked (ReaderError)."""
    if readers.MODULES.get(source.format, ("", ""))[1] != "metadata":
        return FilePlan()  # another format's reader refuses these options as unknown
    limit = source.options.get("files_limit", FILES_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ReaderError(f"options.files_limit must be a whole number from 0, got {limit!r}")
    given = source.options.get("files") or []
    if not isinstance(given, list):
        raise ReaderError("options.files must be a list of rules ({formats, names, reader, …})")
    return FilePlan(
        tuple(_rule(source, f"options.files[{i}]", r) for i, r in enumerate(given)), limit
    )


def _rule(source: Source, where: str, given: object) -> FileRule:
    """One rule, checked: which files (formats, names) and how to read them."""
    if not isinstance(given, dict):
        raise ReaderError(f"{where} must be a mapping with a reader, and formats or names")
    unknown = sorted(set(map(str, given)) - set(RULE_KEYS))
    if unknown:
        raise ReaderError(
            f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(RULE_KEYS)})"
        )
    formats, names = _texts(given, "formats", where), _texts(given, "names", where)
    if not formats and not names:
        raise ReaderError(f"{where} must list formats or names: which files it reads")
    for glob in names:
        if glob.count("[") > glob.count("]"):
            raise ReaderError(f"{where}.names: {glob!r} is not a glob (a '[' is not closed)")
    reader, schema, options = _reading(source, where, given)
    lowered = frozenset(f.lower() for f in formats)
    return FileRule(reader, lowered, tuple(n.lower() for n in names), schema, options)


def _reading(source: Source, where: str, given: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """A rule's reader (one giving records or grids), schema and options, checked."""
    reader, schema = given.get("reader"), given.get("schema") or ""
    kind = readers.MODULES.get(reader, ("", ""))[1] if isinstance(reader, str) else ""
    if not isinstance(reader, str) or kind not in ("records", "grids"):
        usable = sorted(f for f in readers.known_formats() if readers.kind_of(f) != "metadata")
        raise ReaderError(f"{where}.reader: {reader!r} is not a file reader ({', '.join(usable)})")
    if kind == "records" and (not isinstance(schema, str) or not schema):
        raise ReaderError(f"{where}.schema: reader {reader!r} gives records, which need a schema")
    if kind == "grids" and schema:
        raise ReaderError(f"{where}.schema: reader {reader!r} gives grids, which take no schema")
    options = given.get("options") or {}
    if not isinstance(options, dict):
        raise ReaderError(f"{where}.options must be a mapping of the reader's options")
    probe = Source(
        source.id, "", source.operator, source.theme, reader, "", schema, "", options=options
    )
    try:
        readers.check_options(probe, readers.reader_for(probe))
    except ReaderError as exc:
        raise ReaderError(f"{where}.options: {exc}") from None
    return reader, schema, options


def _texts(given: dict[str, Any], key: str, where: str) -> list[str]:
    """A rule's list of non-empty strings (`formats`, `names`), or ReaderError."""
    value = given.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ReaderError(f"{where}.{key} must be a list of non-empty strings, got {value!r}")
    return [v.strip() for v in value]


def chosen_files(
    listing: MetadataBatch, plan: FilePlan
) -> tuple[list[tuple[PortalDataset, FileResource, FileRule]], int]:
    """The files the plan reads (listing order, at most its limit), and how many more fit."""
    fitting: dict[str, tuple[PortalDataset, FileResource, FileRule]] = {}
    for entry in listing.datasets:
        for file in entry.resources:
            rule = next((r for r in plan.rules if r.fits(file)), None)
            if rule is None:
                continue
            if urlsplit(file.url).scheme.lower() not in ("http", "https"):
                log.info("%s: %s is not an http(s) link: not read", entry.id, redact_url(file.url))
                continue
            fitting.setdefault(file_key(entry, file, rule), (entry, file, rule))
    chosen = list(fitting.values())
    return chosen[: plan.limit], max(0, len(chosen) - plan.limit)


def file_key(entry: PortalDataset, file: FileResource, rule: FileRule) -> str:
    """The file source's id (its cursor's too): its dataset, and a digest of the url and rule."""
    how = json.dumps(
        [file.url, rule.reader, rule.schema, rule.options], sort_keys=True, default=str
    )
    digest = hashlib.sha256(how.encode("utf-8")).hexdigest()[:10]
    return f"{entry.id[: KEY_LENGTH - len(digest) - 1]}.{digest}"


def file_source(
    portal: Source, entry: PortalDataset, file: FileResource, rule: FileRule
) -> FileSource:
    """A file of a portal's dataset as a source derived from the portal's."""
    inherited = {"deadline": portal.options["deadline"]} if "deadline" in portal.options else {}
    home = origin_of(file.url) == origin_of(portal.url)  # a key of the portal's goes nowhere else
    return FileSource(
        id=file_key(entry, file, rule),
        title=entry.title,
        operator=portal.operator,
        theme=portal.theme,
        format=rule.reader,
        url=file.url,
        schema=rule.schema,
        charter=portal.charter,
        options={**inherited, **rule.options},
        description=entry.description,
        auth=portal.auth if home else None,
        path=portal.path,
        joins=entry,
    )


def dataset_of(source: Source) -> str:
    """The catalogue dataset a source publishes to: its own id, or its portal dataset's."""
    return source.joins.id if isinstance(source, FileSource) and source.joins else source.id


def joined(source: Source, batch: AnyBatch) -> AnyBatch:
    """A file source's batch as part of its portal dataset, described as the portal lists it."""
    if not isinstance(source, FileSource) or source.joins is None:
        return batch
    entry = source.joins
    return replace(
        batch,
        dataset_id=entry.id,
        title=entry.title,
        description=entry.description,
        keywords=list(entry.keywords),
    )


def harvest_files(
    portal: Source, listing: MetadataBatch, plan: FilePlan, harvest: Callable[[Source], Outcome]
) -> str:
    """Harvest the listing's files the plan reads, each its own run; what happened, in words."""
    chosen, left = chosen_files(listing, plan)
    if not chosen and not left:
        return ""
    outcomes = [_harvested(harvest, file_source(portal, *c)) for c in chosen]
    done = [o for o in outcomes if o[1] in HARVESTED]
    failed = [o for o in outcomes if o[1] not in HARVESTED]
    unchanged = sum(1 for o in done if "HTTP 304" in o[2])
    said = f"files: {len(done)} harvested" + (f" ({unchanged} unchanged)" if unchanged else "")
    said += f", {len(failed)} failed"
    if failed:
        shown = "; ".join(f"{name}: {why[:200]}" for name, _, why in failed[:FAILURES_SHOWN])
        said += f" ({shown}{'; …' if len(failed) > FAILURES_SHOWN else ''})"
    if left:
        said += f"; {left} more not read (files_limit {plan.limit})"
    log.info("%s: %s", portal.id, said)
    return said


def _harvested(harvest: Callable[[Source], Outcome], source: FileSource) -> tuple[str, str, str]:
    """A file's harvest as (source, status, message); one that breaks fails alone, recorded."""
    try:
        outcome = harvest(source)
    except Exception as exc:  # noqa: BLE001 — the listing and the other files must go on
        log.exception("harvest of %s broke", source.id)
        reason = redact_text(f"{type(exc).__name__}: {exc}")
        record_failure(dataset_of(source), source.id, reason)
        return source.id, "failed", reason
    return outcome.source, outcome.status, outcome.message
