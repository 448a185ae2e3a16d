"""Catalogue tables: who publishes what, under which schema and charter, and every run."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Now, in UTC, timezone-aware."""
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """A stored time as timezone-aware UTC (SQLite hands back naive values, which are UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Organization(SQLModel, table=True):
    """An operator that shares data (public body or private company)."""

    id: str = Field(primary_key=True, max_length=100)
    name: str
    kind: str = Field(default="public", max_length=20)  # public | private
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    email: str = Field(default="", max_length=254)  # whom reusers write to ("" undeclared)
    website: str = Field(default="")
    created_at: datetime = Field(default_factory=utcnow)


class Dataset(SQLModel, table=True):
    """A published dataset: one source's records under one schema and charter."""

    id: str = Field(primary_key=True, max_length=100)
    title: str
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    organization_id: str = Field(foreign_key="organization.id", index=True)
    theme: str = Field(index=True, max_length=40)
    schema_name: str = Field(max_length=100)
    schema_version: str = Field(default="", max_length=40)
    charter_id: str = Field(max_length=100)
    charter_version: str = Field(default="", max_length=40)
    access: str = Field(default="open", max_length=20)  # open | restricted | personal | crisis
    licence_id: str = Field(default="", max_length=40, index=True)
    licence_title: str = Field(default="")
    licence_url: str = Field(default="")
    mandatory_mention: str = Field(default="")
    source_url: str = Field(default="")
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    record_count: int = 0
    time_min: datetime | None = None
    time_max: datetime | None = None
    bbox: list[float] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # A portal's dataset: the original's identifier, IRI, issued and modified (hub.origins).
    origin: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    # What the feed says of its authorship (hub.credits): creator, contact, citation, DOI.
    credits: dict[str, str] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow, index=True)
    published_at: datetime | None = None  # last batch that stored at least one row


class WithdrawnDataset(SQLModel, table=True):
    """A dataset its portal stopped listing, kept as a tombstone (hub.tombstones) so that
    harvesters asking what changed since a time learn that it went."""

    id: str = Field(primary_key=True, max_length=100)  # the dataset's id
    title: str
    organization_id: str = Field(max_length=100)
    theme: str = Field(max_length=40)
    source_id: str = Field(default="", max_length=100)  # the portal source that dropped it
    run_id: int | None = None  # the listing's run
    withdrawn_at: datetime = Field(default_factory=utcnow, index=True)


class Resource(SQLModel, table=True):
    """A dataset's resource: its typed record table, a stored grid, or a file it links to."""

    id: str = Field(primary_key=True, max_length=64)
    dataset_id: str = Field(foreign_key="dataset.id", index=True)
    name: str
    kind: str = Field(default="records", max_length=20)  # records | grid | file
    table_name: str | None = Field(default=None, unique=True, max_length=63)  # records only
    schema_descriptor: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    details: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    url: str = Field(default="")
    format: str = Field(default="CSV", max_length=100)  # a portal's may be a long media type
    row_count: int = 0
    position: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    modified_at: datetime = Field(default_factory=utcnow)


class HarvestSource(SQLModel, table=True):
    """A harvest source file as last seen by `hub harvest`."""

    id: str = Field(primary_key=True, max_length=100)
    title: str
    url: str
    format: str = Field(max_length=40)
    schema_name: str = Field(max_length=100)
    charter_id: str = Field(max_length=100)
    organization_id: str = Field(max_length=100)
    theme: str = Field(max_length=40)
    schedule: str | None = None
    enabled: bool = True
    path: str = Field(default="")
    updated_at: datetime = Field(default_factory=utcnow)


class SourceCursor(SQLModel, table=True):
    """Where a source's last harvest stopped, so that unchanged data is not read again."""

    source_id: str = Field(primary_key=True, max_length=100)
    etag: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    last_modified: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    position: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    listed_at: datetime | None = None  # a portal's last whole listing (increments withdraw nothing)
    updated_at: datetime = Field(default_factory=utcnow)


class HarvestRun(SQLModel, table=True):
    """One batch through the gate: what was read, published, quarantined and skipped."""

    __table_args__ = (Index("ix_harvestrun_dataset_started", "dataset_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    dataset_id: str = Field(max_length=100)  # no FK: a refused batch has no dataset
    source_id: str | None = Field(default=None, max_length=100)
    status: str = Field(default="running", index=True, max_length=20)
    # running | succeeded | partial (some rows quarantined) | failed | refused
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    host: str = Field(default="", max_length=255)
    pid: int | None = None
    # Renewed by the harvesting process while the run is running (see hub.runs).
    heartbeat_at: datetime | None = None
    # The Prefect flow run it ran in, and that flow run's API: a recovered run ends it Crashed.
    flow_run_id: str | None = Field(default=None, max_length=36)
    flow_run_api: str | None = Field(default=None, max_length=500)
    schema_name: str = Field(default="", max_length=100)
    schema_version: str = Field(default="", max_length=40)
    charter_id: str = Field(default="", max_length=100)
    charter_version: str = Field(default="", max_length=40)
    rows_read: int = 0
    rows_published: int = 0
    rows_updated: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class QuarantinedRow(SQLModel, table=True):
    """A row the gate refused, kept with its reasons for the operator."""

    # Pages of a run's quarantine walk this index from their cursor, in row order.
    __table_args__ = (Index("ix_quarantinedrow_run_row", "run_id", "row_number", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="harvestrun.id", index=True)
    dataset_id: str = Field(index=True, max_length=100)
    row_number: int
    cells: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    errors: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))


class Event(SQLModel, table=True):
    """The append-only event log behind the feeds (hub.events); `id` is the replay sequence."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=20)  # observation | alert | dataset | crisis | grant
    dataset_id: str = Field(index=True, max_length=100)
    theme: str = Field(default="", max_length=40)
    time: datetime = Field(default_factory=utcnow, index=True)  # when it was logged
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # Who may receive it: the dataset's access level when published, and a personal record's
    # pseudonymous subject (the feed matches it against a reader's links and consents).
    access: str = Field(default="open", max_length=20)
    subject: str = Field(default="", max_length=64)


class ApiToken(SQLModel, table=True):
    """A bearer token: its role and organizations; the secret is kept only as a keyed hash."""

    id: str = Field(primary_key=True, max_length=32)  # public, shown by `hub token list`
    name: str = Field(default="", max_length=200)
    role: str = Field(max_length=20)  # admin | operator | agency | service | crisis-cell | subject
    organizations: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    # A subject token speaks for a subject account (several tokens may share one); a service
    # token for a registered service.
    account: str | None = Field(default=None, max_length=64, index=True)
    service_id: str | None = Field(default=None, max_length=64)
    # The token that issued this one through the organization's self-service (None: the admin's
    # `hub token`), so that revoking a leaked token can revoke what it minted too.
    issued_by: str | None = Field(default=None, max_length=32, index=True)


class SignIn(SQLModel, table=True):
    """A catalogue session opened by proving a token: its cookie names it, and is good only
    while the row lasts (signing out deletes it, revoking the token deletes its sign-ins)."""

    id: str = Field(primary_key=True, max_length=64)
    token_id: str = Field(max_length=32, index=True)
    expires_at: datetime = Field(index=True)


class AccessEvent(SQLModel, table=True):
    """One read (or refused read) of non-open data, chained to the previous entry by its hash."""

    __table_args__ = (
        Index("ix_accessevent_dataset_at", "dataset_id", "at"),
        # a subject's reads of every row ("*") of their datasets, found without a scan
        Index("ix_accessevent_dataset_subjects", "dataset_id", "subjects", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow)
    actor_id: str = Field(max_length=64)
    actor_role: str = Field(default="", max_length=20)
    organization: str = Field(default="", max_length=100)  # the actor's organizations, joined
    dataset_id: str = Field(max_length=100)
    producer: str = Field(default="", max_length=100, index=True)  # the dataset's organization
    outcome: str = Field(max_length=10)  # granted | denied
    scope: str = Field(max_length=20)  # all | subjects | area | none; log; token
    purpose: str = Field(default="", max_length=200)
    rows: int | None = None  # None: a streamed export, counted by nobody
    route: str = Field(default="", max_length=200)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # Unique: two writers that read the same head cannot both append after it (one retries).
    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64)
    # HMAC of `hash` under the hub's key (hub.auditanchor.seal); "" on entries from before 0019
    mac: str = Field(default="", max_length=64)
    # Which data subjects a read of personal rows covered: "" none, "*" every subject of the
    # dataset, else the Merkle root of their pseudonyms (chained), listed in `subject_list`
    # (space-separated, space-bounded) so that each subject finds their entries (hub.audit).
    subjects: str = Field(default="", max_length=64)
    subject_list: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    # `rows` is chained through `rows_commit`, SHA-256 over a random `rows_nonce` and it, so a
    # subject checks the hash without learning the rows of the others a read took (hub.audit);
    # "" on entries from before 0021, which chain `rows` itself
    rows_nonce: str = Field(default="", max_length=32)
    rows_commit: str = Field(default="", max_length=64)


class AccessSubject(SQLModel, table=True):
    """Index of the access log by data subject: one row per pseudonym an entry's read named, so a
    subject's entries are found by key rather than by scanning every entry's `subject_list`.
    Written in the entry's transaction, append-only as the log is."""

    pseudonym: str = Field(primary_key=True, max_length=64)
    dataset_id: str = Field(primary_key=True, max_length=100)
    event_id: int = Field(primary_key=True, foreign_key="accessevent.id")
    rows: int | None = None  # of this subject's rows, the read took (None: not counted)


class Service(SQLModel, table=True):
    """An application registered to read personal rows through its users' consents."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    url: str = Field(max_length=500)
    organization: str = Field(default="", max_length=100)
    created_at: datetime = Field(default_factory=utcnow)


class SubjectLink(SQLModel, table=True):
    """A subject account proved, through the operator's matching service, that the rows of a
    personal dataset under `pseudonym` are theirs; the matching values are never kept."""

    __table_args__ = (
        UniqueConstraint("account", "dataset_id", "pseudonym"),
        Index("ix_subjectlink_dataset_account", "dataset_id", "account"),
    )

    id: str = Field(primary_key=True, max_length=32)
    account: str = Field(max_length=64, index=True)
    producer: str = Field(max_length=100)
    dataset_id: str = Field(max_length=100)
    pseudonym: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class PastLink(SQLModel, table=True):
    """A link the account removed, kept so that it still sees the logged reads of those rows
    (they name the pseudonym, which no current link holds any more). Only what selects the
    entries remains: account, dataset, pseudonym and the link's dates."""

    __table_args__ = (Index("ix_pastlink_account", "account"),)

    id: str = Field(primary_key=True, max_length=32)  # the removed link's id
    account: str = Field(max_length=64)
    dataset_id: str = Field(max_length=100)
    pseudonym: str = Field(max_length=64)
    created_at: datetime
    removed_at: datetime = Field(default_factory=utcnow)


class LinkAttempt(SQLModel, table=True):
    """One try at linking, kept for a while so that every process counts the same attempts."""

    __table_args__ = (
        Index("ix_linkattempt_account_at", "account", "at"),
        Index("ix_linkattempt_dataset_at", "dataset_id", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=64)
    dataset_id: str = Field(max_length=100)
    at: datetime = Field(default_factory=utcnow)


class Consent(SQLModel, table=True):
    """A subject's consent that a service read some of their datasets for one purpose, until
    it expires or is revoked; `receipt` is what the subject was given, `receipt_hash` its seal."""

    __table_args__ = (Index("ix_consent_service_purpose", "service_id", "purpose"),)

    id: str = Field(primary_key=True, max_length=36)  # the receipt's id (a UUID)
    account: str = Field(max_length=64, index=True)
    service_id: str = Field(max_length=64)
    producer: str = Field(max_length=100)
    purpose: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    receipt: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    receipt_hash: str = Field(max_length=80)


class ConsentDataset(SQLModel, table=True):
    """A dataset a consent covers."""

    consent_id: str = Field(foreign_key="consent.id", primary_key=True, max_length=36)
    dataset_id: str = Field(primary_key=True, max_length=100, index=True)


class ConsentLink(SQLModel, table=True):
    """A link whose rows a consent shares: one the account held when it gave the consent (its
    receipt names the link's pseudonym). A link made later is in no earlier consent, and
    unlinking deletes these rows, so a relink (a new link) revives none."""

    consent_id: str = Field(foreign_key="consent.id", primary_key=True, max_length=36)
    link_id: str = Field(primary_key=True, max_length=32, index=True)


class Crisis(SQLModel, table=True):
    """A declared crisis: while it lasts, its cells read crisis data inside its area and window."""

    id: str = Field(primary_key=True, max_length=64)  # short and stable, from its name
    name: str = Field(max_length=200)
    area: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))  # GeoJSON, WGS84
    bbox: list[float] = Field(sa_column=Column(JSON, nullable=False))  # the area's, 4 floats
    starts_at: datetime
    ends_at: datetime = Field(index=True)
    cells: list[str] = Field(sa_column=Column(JSON, nullable=False))  # organization ids
    declared_by: str = Field(max_length=64)  # a token id, or "cli"
    declared_at: datetime = Field(default_factory=utcnow)
    closed_at: datetime | None = None
    closed_by: str = Field(default="", max_length=64)
    # An exercise (CAP status Exercise): left out of public lists and feeds, and it opens a
    # charter's data only where the charter accepts exercises (hub.access).
    exercise: bool = Field(default=False)
    # When the feed was told the crisis started (scheduled) or reached its end (hub.crises.
    # passages): each is said once. Set at declaration for one already started, at close.
    started_told_at: datetime | None = None
    ended_told_at: datetime | None = None
