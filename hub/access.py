"""Who may read what: every read of records gets a grant from here (DESIGN §2, §5).

A grant says which rows an actor may read — all of them, those of some subject keys, those inside
an area and time window, or none — and why. `hub.reading` applies it inside the SQL query and logs
it; routes never decide by themselves. Metadata the operator declared is public; what is computed
from the rows (counts, extent, time range, runs, reports) follows the rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from hub import charterdays, charters
from hub.models import Dataset
from hub.refusals import ENGLISH, RUN_ERROR_KINDS, Message, Param, render

ROLES = ("admin", "operator", "agency", "service", "crisis-cell", "subject")
# "aggregates": no row, only hub.aggregates' suppressed cells (reading.condition opens nothing)
Scope = Literal["all", "subjects", "area", "aggregates", "none"]
# The purpose a crisis cell declares to read under an exercise, where the charter accepts them.
EXERCISE = "exercise"


@dataclass(frozen=True)
class Actor:
    """Who is asking, as a token proved it; anonymous without one."""

    id: str = "anonymous"
    role: str = "anonymous"
    organizations: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    account: str = ""  # a subject token's subject account
    service: str = ""  # a service token's registered service

    @property
    def anonymous(self) -> bool:
        """Whether no token stands behind this actor."""
        return self.role == "anonymous"

    def operates(self, organization: str) -> bool:
        """Whether this actor is an operator of `organization` (the producer of its datasets)."""
        return self.role == "operator" and organization in self.organizations


ANONYMOUS = Actor()


@dataclass(frozen=True)
class Zone:
    """Where and when an active crisis opens crisis data to its cells (hub.crises makes them)."""

    crisis: str  # the crisis's id
    cells: frozenset[str]  # the organizations it names
    shape: str  # its area: a GeoJSON Polygon or MultiPolygon, WGS84, as compact JSON text
    bbox: tuple[float, float, float, float]  # the area's bounding box
    start: datetime  # its window [start, end), aware UTC
    end: datetime
    exercise: bool = False  # an exercise opens data only to the purpose EXERCISE


@dataclass(frozen=True)
class Grant:
    """Which rows of a dataset an actor may read, and why (a hub.refusals message code)."""

    scope: Scope
    code: str
    params: Mapping[str, Param] = field(default_factory=dict)
    subjects: frozenset[str] = frozenset()  # scope "subjects": the pseudonymous keys
    # scope "area": the rows inside any of these areas, each in its window (a union)
    zones: tuple[Zone, ...] = ()

    @property
    def message(self) -> Message:
        """Why, as a code and its parameters (the UI translates it)."""
        return Message(self.code, self.params)

    @property
    def reason(self) -> str:
        """Why, in the API's English."""
        return render(self.code, self.params)

    @property
    def reads_rows(self) -> bool:
        """Whether any row may be read."""
        return self.scope != "none"

    @property
    def whole(self) -> bool:
        """Whether every row may be read, and so what is computed from all of them."""
        return self.scope == "all"


class AccessDenied(PermissionError):
    """A read the dataset's charter does not allow to this actor, and why (a message code)."""

    def __init__(
        self,
        dataset_id: str,
        code: str,
        params: Mapping[str, Param] | None = None,
        actor: Actor = ANONYMOUS,
    ) -> None:
        self.dataset_id = dataset_id
        self.code = code
        self.params: Mapping[str, Param] = params or {}
        self.actor = actor
        self.reason = render(code, self.params)  # the API's English
        super().__init__(self.reason)

    @property
    def message(self) -> Message:
        """Why, as a code and its parameters (the UI translates it)."""
        return Message(self.code, self.params)


def grant(
    dataset: Dataset,
    actor: Actor = ANONYMOUS,
    *,
    purpose: str | None = None,
    subjects: frozenset[str] | None = None,
    zones: tuple[Zone, ...] = (),
) -> Grant:
    """The rows of `dataset` that `actor` may read, under its charter's access level.

    `purpose`: what a read of rows declares it is for ("" when it declares nothing); None when
    no read is judged (what a page may show of the dataset), so no purpose is asked for.

    For a personal dataset, `subjects` are the pseudonyms hub.reading found for the actor (a
    subject's links, or the subjects who consent to a service reading for `purpose`); without
    them a subject or service reads nothing, and so sees nothing computed from the rows. For a
    crisis dataset, `zones` are the active crises hub.reading found (hub.crises.zones): a
    crisis cell reads the rows inside those that name one of its organizations.
    """
    level = dataset.access
    named = {
        "dataset": dataset.id,
        "charter": f"{dataset.charter_id} {dataset.charter_version}".rstrip(),
    }
    if level == "open" and shared_level(dataset) == "open":
        return Grant("all", "open", {"charter": named["charter"]})
    if actor.operates(dataset.organization_id):
        return Grant("all", "operator", {"organization": dataset.organization_id})
    if level == "personal" and actor.role == "subject":
        # A data subject reads their own rows whatever the charter (GDPR art. 15 and 20).
        return _personal(dataset, actor, named, purpose or "", subjects or frozenset())
    current = _current(dataset, named)
    if isinstance(current, Grant):
        return current
    stored = _under_terms(dataset, actor, named, purpose, subjects, zones)
    if current.version == dataset.charter_version or not stored.reads_rows:
        return stored
    # The charter was renewed or amended since the last harvest: the rows were published under
    # the stored version's terms and are read under the current one's, so both must allow it.
    now = dataset.model_copy(update={"access": current.access, "charter_version": current.version})
    named_now = {**named, "charter": f"{current.id} {current.version}"}
    return _both(stored, _under_terms(now, actor, named_now, purpose, subjects, zones), named_now)


def shared_level(dataset: Dataset) -> str:
    """The access level the dataset's rows are shared at today: the stored one, unless the
    dataset is stored open and the charter version in force shares it otherwise (a new
    version closes open rows from its first day, before any harvest under it).

    Only an open dataset can be closed this way; any other stored level already asks both
    versions (`grant`). An open dataset whose charter has ended or cannot be read stays open:
    its licence was granted for good."""
    if dataset.access != "open" or not dataset.charter_id:
        return dataset.access
    try:
        current = charters.current_version(dataset.charter_id)
    except charters.CharterError:
        return dataset.access
    if current is None or current.version == dataset.charter_version:
        return dataset.access  # a file edited in place: reads follow the published level
    return current.access


def closed_open_ids(session: Session) -> set[str]:
    """The ids of the datasets stored open that their charter version in force closes now
    (`shared_level`), for the queries that pick open datasets by their stored level."""
    charter_ids = session.exec(
        select(Dataset.charter_id).where(Dataset.access == "open").distinct()
    ).all()
    closing = [(c, v) for c in charter_ids if (v := _closing_version(c))]
    if not closing:
        return set()
    chosen = select(Dataset.id).where(
        Dataset.access == "open",
        or_(
            *(
                and_(col(Dataset.charter_id) == c, col(Dataset.charter_version) != v)
                for c, v in closing
            )
        ),
    )
    return set(session.exec(chosen).all())


def _closing_version(charter_id: str) -> str:
    """The version of a charter in force today if it shares its datasets other than open;
    "" otherwise (none in force, open, or a charter that cannot be read)."""
    if not charter_id:
        return ""
    try:
        current = charters.current_version(charter_id)
    except charters.CharterError:
        return ""
    return current.version if current is not None and current.access != "open" else ""


def _under_terms(
    dataset: Dataset,
    actor: Actor,
    named: Mapping[str, Param],
    purpose: str | None,
    subjects: frozenset[str] | None,
    zones: tuple[Zone, ...],
) -> Grant:
    """The rows the terms of the dataset's charter version open to `actor` (not its dates)."""
    level = dataset.access
    if level == "open":
        return Grant("all", "open", {"charter": named["charter"]})
    if level == "restricted":
        member = _membership(dataset, actor)
        if not member:
            return Grant("none", "restricted_members", named)
        refused = _purpose_refusal(dataset, named, purpose)
        if refused is not None:
            return refused
        return Grant("all", member.code, {**member.params, "charter": named["charter"]})
    if level == "personal":
        return _personal(dataset, actor, named, purpose or "", subjects or frozenset())
    if level == "crisis":
        if purpose == EXERCISE:
            return _exercise(dataset, actor, named, zones)
        given = _crisis(dataset, actor, named, tuple(z for z in zones if not z.exercise))
        if not given.reads_rows:
            return _exercise_refusal(dataset, actor, named, zones) or given
        refused = _purpose_refusal(dataset, named, purpose)
        return given if refused is None else refused
    # An access level the hub does not know must never fall through to "open".
    return Grant("none", "unknown_level", {"dataset": dataset.id, "level": level})


def _current(dataset: Dataset, named: Mapping[str, Param]) -> charters.Charter | Grant:
    """The version of the dataset's charter in force today, or the refusal when none is.

    The charter is the legal basis for sharing non-open rows: when it ends, sharing ends (open
    data stays readable: its licence was granted for good). Which version is in force is read
    from the charter files at each read, not from the version stored at the last harvest, so a
    renewal (a new version ending later) opens the rows again at once, and a new version ending
    sooner closes them at once (hub.charters: a newer version replaces the older ones from its
    first day). A charter that cannot be read (a file gone or broken) is no legal basis: its
    records are refused to everyone but their producer and their subjects, until it is mended."""
    try:
        current = charters.current_version(dataset.charter_id)
        if current is not None:
            return current
        versions = charters.read_versions(dataset.charter_id)
    except charters.CharterError:
        return Grant("none", "charter_unreadable", named)
    today = charterdays.today()
    started = [c for c in versions if c.valid_from <= today]
    if not started:
        start = min(c.valid_from for c in versions)
        return Grant("none", "charter_not_yet", {**named, "start": start.isoformat()})
    ended = started[-1]
    until = ended.valid_until.isoformat() if ended.valid_until else ""
    return Grant(
        "none",
        "charter_expired",
        {**named, "charter": f"{ended.id} {ended.version}", "until": until},
    )


def _both(stored: Grant, now: Grant, named_now: Mapping[str, Param]) -> Grant:
    """The rows both grants open: those of the stored charter version and of the current one."""
    if not now.reads_rows:
        return now
    if now.scope == "all" or now.scope == stored.scope:
        return stored  # same scope, same subjects or zones: hub.reading found them once
    if stored.scope == "all":
        return now
    # Subjects under one version, a crisis area under the other: nothing both open.
    return Grant("none", "charter_terms_changed", named_now)


def _personal(
    dataset: Dataset,
    actor: Actor,
    named: Mapping[str, Param],
    purpose: str,
    subjects: frozenset[str],
) -> Grant:
    """A subject's own rows, a service's rows of the subjects who consent; nothing else.

    `named`: the dataset and charter every refusal quotes."""
    if actor.role == "subject":
        if subjects:
            return Grant("subjects", "subject_own_rows", {"charter": named["charter"]}, subjects)
        return Grant("none", "personal_no_link", named)
    if actor.role != "service":
        return Grant("none", "personal", named)
    if not actor.service:
        return Grant("none", "personal_no_service", named)
    if not purpose:  # a service always says what it reads for: consents name a purpose
        return Grant("none", "personal_no_purpose", {**named, "purposes": _purposes(dataset)})
    refused = _purpose_refusal(dataset, named, purpose)
    if refused is not None:
        return refused
    if subjects:
        return Grant(
            "subjects", "consents", {"service": actor.service, "purpose": purpose}, subjects
        )
    return Grant(
        "none", "personal_no_consent", {**named, "service": actor.service, "purpose": purpose}
    )


def _purpose_refusal(
    dataset: Dataset, named: Mapping[str, Param], purpose: str | None
) -> Grant | None:
    """The refusal of a read that declares a purpose the charter does not list, or declares
    none where the charter requires one (`purpose_required`); None when the read goes on.

    One rule for every non-open charter: its `purposes` bind whoever reads its rows. A read that
    declares nothing commits to them by its token, as before purposes were checked."""
    if purpose is None:
        return None
    allowed = _purposes(dataset)
    if purpose:
        if purpose in allowed:
            return None
        params = {**named, "purpose": purpose, "purposes": allowed}
        return Grant("none", "purpose_not_allowed", params)
    terms = charters.purpose_terms(dataset.charter_id, dataset.charter_version)
    if terms is not None and terms.required:
        return Grant("none", "purpose_required", {**named, "purposes": allowed})
    return None


def _purposes(dataset: Dataset) -> list[str]:
    """The purposes the dataset's charter version lists; none when it cannot be read."""
    terms = charters.purpose_terms(dataset.charter_id, dataset.charter_version)
    return list(terms.purposes) if terms else []


def _crisis(
    dataset: Dataset, actor: Actor, named: Mapping[str, Param], zones: tuple[Zone, ...]
) -> Grant:
    """A crisis cell's rows inside the active crises naming one of its organizations; nothing
    for anyone else (the producer's operators were answered before)."""
    if actor.role != "crisis-cell":
        return Grant("none", "crisis_only", named)
    mine = tuple(zone for zone in zones if zone.cells & actor.organizations)
    # `restricted_to` is optional for crisis charters: when given, it narrows who of the cells.
    members = charters.restricted_to(dataset.charter_id, dataset.charter_version)
    if not mine or (members and not _membership(dataset, actor)):
        return Grant("none", "crisis_only", named)
    cells = sorted({cell for zone in mine for cell in zone.cells} & actor.organizations)
    return Grant(
        "area",
        "crisis_cell",
        {
            "organization": cells,
            "crises": sorted(zone.crisis for zone in mine),
            "charter": named["charter"],
        },
        zones=mine,
    )


def _exercise(
    dataset: Dataset, actor: Actor, named: Mapping[str, Param], zones: tuple[Zone, ...]
) -> Grant:
    """A crisis cell reading for an exercise: the rows inside the active exercises naming one
    of its organizations, where the charter accepts exercises (never under a real crisis: a
    read declared for an exercise is not one for the crisis)."""
    terms = charters.purpose_terms(dataset.charter_id, dataset.charter_version)
    if terms is None or not terms.exercises:
        return Grant("none", "exercise_not_allowed", named)
    given = _crisis(dataset, actor, named, tuple(z for z in zones if z.exercise))
    if not given.reads_rows:
        return given
    return Grant("area", "crisis_cell_exercise", given.params, zones=given.zones)


def _exercise_refusal(
    dataset: Dataset, actor: Actor, named: Mapping[str, Param], zones: tuple[Zone, ...]
) -> Grant | None:
    """Why a cell that only an exercise names reads nothing without the purpose EXERCISE:
    the charter refuses exercises, or the read must say it is one; None for other cells."""
    drills = tuple(z for z in zones if z.exercise)
    if actor.role != "crisis-cell" or not _crisis(dataset, actor, named, drills).reads_rows:
        return None
    terms = charters.purpose_terms(dataset.charter_id, dataset.charter_version)
    if terms is None or not terms.exercises:
        return Grant("none", "exercise_not_allowed", named)
    return Grant("none", "exercise_purpose", named)


def _membership(dataset: Dataset, actor: Actor) -> Message | None:
    """How `actor` belongs to the charter's `restricted_to` (a grant's code), or None."""
    if actor.anonymous or actor.role == "subject":
        return None
    # The charter file is the authority (the dataset keeps only its id): an edit applies at once.
    members = charters.restricted_to(dataset.charter_id, dataset.charter_version)
    shared = sorted(actor.organizations & members)
    if shared:
        return Message("member", {"organization": shared[0]})
    if f"role:{actor.role}" in members:
        return Message("member_role", {"role": actor.role})
    return None


def sees_members(charter: charters.Charter, actor: Actor) -> bool:
    """Whether `actor` may see who a charter version opens its records to (`restricted_to`):
    a party to it — its producer's operators, a member — or an admin. The list is no one
    else's business: pages hide it as the API's public charter document leaves it out."""
    if actor.role == "admin" or actor.operates(charter.producer):
        return True
    members = set(charter.restricted_to)
    return bool(actor.organizations & members) or f"role:{actor.role}" in members


def sees_computed(dataset: Dataset, actor: Actor = ANONYMOUS) -> bool:
    """Whether `actor` may see what is computed from all the rows: counts, extent, runs."""
    return grant(dataset, actor).whole


def redact_run_error(error: str, whole: bool) -> str:
    """A run's error text for a caller who may (`whole`) or may not read every row: a reader's
    message can quote a row's values."""
    shown = run_error(error, whole)
    return render(shown.code, shown.params) if shown else ""


def run_error(error: str, whole: bool) -> Message | None:
    """A run's error as a message for a caller who may (`whole`) or may not read every row:
    all of it, or only its kind (the text before its first colon); None for no error."""
    if not error:
        return None
    if whole:
        return Message("run_error", {"error": error})
    kind = error.split(":", 1)[0] if ":" in error else ENGLISH["run_failed"]
    known = RUN_ERROR_KINDS.get(kind)
    return Message("run_error_withheld", {"kind": Message(known) if known else kind})
