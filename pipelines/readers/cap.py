"""The `cap` reader: CAP alerts (1.2, 1.1, 1.0), alone or in Atom / RSS feeds, into risk-alert rows.

The fetched file is one CAP alert, or an Atom or RSS feed whose entries embed alerts or link
to them. Linked alerts are fetched here, one at a time, through `pipelines.fetch` (its SSRF
guard, roots and size limits; the source's credentials go to the source's own origin only).
Each `<info>` block gives a row (`cap_alert`), which keeps the alert's document as received
(`signed_xml` or `cap_xml`) for re-publication; the same alert met twice in a feed, by
(sender, identifier, sent), gives its rows once. Updates and cancels are rows like any other:
their `references` name the alerts they replace.

CAP 1.1 and 1.0 alerts give the same rows as 1.2 ones (`cap_alert` says what differs); their
documents are kept as received too, and hub.alerts.document serves them as CAP 1.2. A CAP 1.0
alert's `<password>` is the exception: its document is kept without it, and unsigned.

A document that is not XML, is cut short, declares a DTD or is not CAP of one of these versions
raises ReaderError (an alert of another CAP namespace, such as a future one, is named as such);
an entry whose linked alert cannot be fetched or read, or an info block with a malformed area,
gives a row with a problem (quarantined) while the others are published. A linked document
that tries an XML attack still fails the whole feed: its operator's server is not to be trusted.
The XML defences (cap_xml) come before any namespace is looked at: they hold for every version.
"""

from __future__ import annotations

import logging
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import polars as pl

from hub.batches import Chunk, RowProblem
from hub.redaction import redact_url
from pipelines.credentials import Credentials, credentials_towards, resolve_credentials
from pipelines.fetch import FetchError, expand_url, fetch
from pipelines.normalise import load_target
from pipelines.readers.base import Fetched, Reader, ReaderError
from pipelines.readers.cap_alert import InfoRow, is_signed, read_alert, without_password
from pipelines.readers.cap_xml import (
    ALERTS,
    ATOM,
    VERSIONS,
    Document,
    HostileXML,
    embedded_alert,
    local_name,
    namespace_of,
    parse_document,
    text_of,
    written,
)
from pipelines.roots import without_paths
from pipelines.sources import Source

log = logging.getLogger(__name__)

CHUNK_ROWS = 200  # an info row may hold a megabyte of polygon: keep chunks modest


@dataclass(frozen=True)
class Entry:
    """One alert of the document: embedded (`alert`) or linked (`link`), or neither."""

    label: str  # "entry 3", for messages
    alert: ET.Element | None = None
    link: str | None = None


def read(source: Source, fetched: Fetched) -> Iterator[Chunk]:
    """Read a CAP alert or a feed of them; the document itself is checked before any row."""
    document = parse_document(fetched.path.read_bytes(), fetched.path.name)
    entries = entries_of(document, fetched.path.name)
    fields = load_target(source.schema).fields
    return _chunks(_rows(document, entries, LinkedAlerts(source)), fields)


READER = Reader("cap", "records", read)


def entries_of(document: Document, name: str) -> list[Entry]:
    """The alerts a document holds: itself, or the entries of its Atom or RSS feed."""
    root = document.root
    if root.tag in ALERTS:
        return [Entry("the alert", alert=root)]
    if root.tag == f"{{{ATOM}}}feed":
        found = root.iterfind(f"{{{ATOM}}}entry")
        return [_atom_entry(entry, n) for n, entry in enumerate(found, 1)]
    if root.tag == "rss":
        return [_rss_entry(item, n) for n, item in enumerate(root.iterfind("channel/item"), 1)]
    namespace = namespace_of(root.tag)
    if _is_other_cap(root.tag):
        raise ReaderError(f"{name} is {_not_cap(root.tag)}")
    shown = f"<{local_name(root.tag)}>" + (f" of namespace {namespace!r}" if namespace else "")
    raise ReaderError(
        f"{name} is neither a CAP alert ({_READ}) nor an Atom or RSS feed of alerts: its root "
        f"element is {shown}"
    )


def _atom_entry(entry: ET.Element, number: int) -> Entry:
    """An Atom entry: its embedded alert, else its CAP link (typed, else the alternate)."""
    label = f"entry {number}"
    embedded = embedded_alert(entry)
    if embedded is not None:
        return Entry(label, alert=embedded)
    candidates: list[tuple[str, str, str]] = []  # (type, rel, href)
    content = entry.find(f"{{{ATOM}}}content")
    if content is not None and content.get("src"):
        candidates.append((content.get("type", ""), "alternate", content.get("src", "")))
    for link in entry.iterfind(f"{{{ATOM}}}link"):
        if link.get("href"):
            kind, rel = link.get("type", ""), link.get("rel", "alternate")
            candidates.append((kind, rel, link.get("href", "")))
    typed = [href for kind, _, href in candidates if "cap" in kind.lower()]
    alternate = [href for _, rel, href in candidates if rel == "alternate"]
    return Entry(label, link=next(iter(typed or alternate), None))


def _rss_entry(item: ET.Element, number: int) -> Entry:
    """An RSS item: its embedded alert, else its CAP enclosure, else its link."""
    label = f"item {number}"
    embedded = embedded_alert(item)
    if embedded is not None:
        return Entry(label, alert=embedded)
    enclosures = [e.get("url") for e in item.iterfind("enclosure") if "cap" in e.get("type", "")]
    return Entry(label, link=next(iter(enclosures), None) or text_of(item, "link", namespace=""))


class LinkedAlerts:
    """Fetches the alerts a feed links to, relative links resolved against the feed's url."""

    def __init__(self, source: Source) -> None:
        self.source = source
        # The source's own url, not `fetched.url`: that one is redacted for display, and a
        # link resolved against `https://***@host/` would carry the redaction as a user.
        local = urlsplit(source.url).scheme.lower() not in ("http", "https")
        self.base = expand_url(source.url, source.base_dir) if local else source.url
        self._credentials: Credentials | None = None

    def resolve(self, link: str) -> str:
        """The absolute url of a link as the feed writes it."""
        return urljoin(self.base, link.strip())

    def fetch(self, url: str) -> Document:
        """Fetch and parse one linked alert (FetchError, ReaderError or HostileXML)."""
        with tempfile.TemporaryDirectory(prefix="hub-cap-") as folder:
            path = fetch(
                url,
                Path(folder),
                base=self.source.base_dir,
                credentials=self._credentials_for(url),
                deadline=self.source.deadline,
            )
            return parse_document(path.read_bytes(), redact_url(url))

    def _credentials_for(self, url: str) -> Credentials:
        """The source's credentials for its own origin; none for another server's."""
        if self._credentials is None:
            self._credentials = resolve_credentials(self.source)
        return credentials_towards(self._credentials, self.source.url, url)


def _rows(
    document: Document, entries: list[Entry], linked: LinkedAlerts
) -> Iterator[tuple[int, InfoRow]]:
    """(row number, row) of every alert, each alert once; numbers count every info block."""
    seen: set[tuple[str, str, str]] = set()
    fetched: set[str] = set()
    number = 1  # _row of the first record is 2, as frictionless counts a header line
    for entry in entries:
        found = _alert_of(document, entry, linked, fetched)
        if found is None:
            continue  # a link met before: its alert was read then
        if isinstance(found, InfoRow):
            number += 1
            yield number, found
            continue
        source_document, alert = found
        public = without_password(alert)
        if public is not None:
            log.warning("%s: its CAP 1.0 <password> is dropped from the document kept", entry.label)
            parsed = read_alert(public, written(public))
        else:
            # A signature holds for the exact bytes; an unsigned alert is kept as a document of
            # its own, so that it can be served alone.
            signed = is_signed(alert)
            kept = (source_document.verbatim if signed else source_document.standalone)(alert)
            parsed = read_alert(alert, kept)
        if parsed.key in seen:
            log.info("%s repeats alert %s: read once", entry.label, parsed.key)
            number += len(parsed.rows)
            continue
        seen.add(parsed.key)
        for row in parsed.rows:
            number += 1
            yield number, row


def _alert_of(
    document: Document, entry: Entry, linked: LinkedAlerts, fetched: set[str]
) -> tuple[Document, ET.Element] | InfoRow | None:
    """An entry's alert and the document holding it; a problem row if it cannot be had."""
    if entry.alert is not None:
        return document, entry.alert
    if not entry.link:
        return _failed(f"{entry.label} neither embeds a CAP alert nor links to one")
    url = linked.resolve(entry.link)
    if url in fetched:
        return None
    fetched.add(url)
    shown = without_paths(redact_url(url), linked.source.base_dir)
    try:
        held = linked.fetch(url)
    except HostileXML:
        raise
    except (FetchError, ReaderError) as exc:
        note = without_paths(str(exc), linked.source.base_dir).removeprefix(f"{shown}: ")
        return _failed(f"{entry.label}: the alert it links to ({shown}) cannot be read: {note}")
    if held.root.tag not in ALERTS:
        return _failed(f"{entry.label} links to {shown}, {_not_cap(held.root.tag)}")
    return held, held.root


_READ = "CAP " + ", ".join(sorted(set(VERSIONS.values()), reverse=True))  # "CAP 1.2, 1.1, 1.0"


def _is_other_cap(tag: str) -> bool:
    """Whether an element is an `<alert>` of a CAP namespace this reader does not read."""
    namespace = namespace_of(tag)
    return local_name(tag) == "alert" and ("emergency:cap" in namespace or "/cap/" in namespace)


def _not_cap(tag: str) -> str:
    """What a document is, when it is not a CAP alert of a version read here."""
    namespace = namespace_of(tag)
    if _is_other_cap(tag):
        known = ", ".join(VERSIONS)
        return f"a CAP alert of namespace {namespace!r}: this reader reads {_READ} ({known})"
    shown = f"<{local_name(tag)}>" + (f" of namespace {namespace!r}" if namespace else "")
    return f"which is not a CAP alert ({shown})"


def _failed(note: str) -> InfoRow:
    """The row an unreadable entry gives: empty, with the reason that quarantines it."""
    return InfoRow({}, [(None, note)])


def _chunks(rows: Iterator[tuple[int, InfoRow]], fields: list[str]) -> Iterator[Chunk]:
    """Rows gathered into chunks: one Utf8 column per target field, then `_row`."""
    batch: list[tuple[int, InfoRow]] = []
    for numbered in rows:
        batch.append(numbered)
        if len(batch) == CHUNK_ROWS:
            yield _chunk(batch, fields)
            batch = []
    if batch:
        yield _chunk(batch, fields)


def _chunk(rows: list[tuple[int, InfoRow]], fields: list[str]) -> Chunk:
    """One chunk of numbered rows, with their problems."""
    columns = {name: [row.values.get(name) for _, row in rows] for name in fields}
    frame = pl.DataFrame(
        {**columns, "_row": [number for number, _ in rows]},
        schema={**dict.fromkeys(fields, pl.Utf8), "_row": pl.Int64},
    )
    problems = [
        RowProblem(number, name, note) for number, row in rows for name, note in row.problems
    ]
    return Chunk(frame, problems)
