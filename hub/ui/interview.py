"""The dataset's interview (Fing's "interview de la donnée"): the standard questions answered
in plain sentences from metadata, run history and the access log, never from the records.

`card` gathers the facts (a few indexed queries, so a page of a 10-million-row dataset stays
fast); `answers` words them in the current language (hub.ui.i18n.speaking).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select

from hub import access, licences
from hub.api.shapes import DatasetDetail, web_url
from hub.charters import Charter
from hub.charterterms import Term
from hub.models import AccessEvent, Dataset, HarvestRun, HarvestSource, as_utc
from hub.ui.i18n import day, gettext, ngettext, number
from hub.ui.pages import N_, access_name, purpose_name, theme_name

USAGE_DAYS = 30
DESCRIPTION_CHARS = 280
EARTH_KM_PER_DEGREE = 111.2  # along a meridian (and a parallel at the equator)

# Kinds of actors as the access log records them, in the words of the card.
ROLES = {
    "anonymous": N_("visitors without a token"),
    "agency": N_("agencies"),
    "operator": N_("operators"),
    "service": N_("services"),
    "crisis-cell": N_("crisis cells"),
    "subject": N_("data subjects"),
    "admin": N_("administrators"),
}
DELIVERED = ("succeeded", "partial")  # runs that published what they read


@dataclass(frozen=True)
class Usage:
    """Reads of the last days, counted by kind of actor (no identity), and refusals."""

    by_role: list[tuple[str, int]]
    readers: int
    refused: int


@dataclass(frozen=True)
class Card:
    """The facts the interview's answers are worded from."""

    title: str
    description: str
    theme: str
    organization: str
    organization_kind: str
    source_host: str  # a web feed's host, else ""
    source_file: bool  # the feed is a file in the hub's own folders
    access: str
    whole: bool  # the visitor may see what is computed from every row
    bbox: list[float] | None
    time_min: datetime | None
    time_max: datetime | None
    published_at: datetime | None
    stale: bool
    schedule: str | None
    cadence: timedelta | None  # median gap between the last runs that delivered data
    runs: int  # runs looked at
    valid_runs: int  # of them, those whose report found no error
    reported_runs: int  # of them, those with a report
    rows_read: int | None  # over them (None: withheld)
    rows_quarantined: int | None
    charter: Charter | None
    term: Term | None  # how long the charter shares, as all its versions decide today
    licence: str
    licence_id: str
    mention: str
    usage: Usage | None  # None: open data, whose reads are not logged, or withheld (below)
    members: list[str] = field(default_factory=list)
    grid: bool = False  # the dataset is a grid (its runs read files, not rows)
    # A personal dataset's reads counted by kind and readers would tell, with few households,
    # which subjects are active: only its producer's operators and admins see them.
    usage_withheld: bool = False


def card(
    session: Session,
    dataset: Dataset,
    detail: DatasetDetail,
    runs: list[HarvestRun],
    charter: Charter | None,
    whole: bool,
    now: datetime | None = None,
    *,
    reads_log: bool = False,
    term: Term | None = None,
    sees_members: bool = False,
) -> Card:
    """The interview's facts for one dataset, `runs` newest first, as the visitor may see them
    (`reads_log`: the visitor reads every access log, an admin; `sees_members`: the visitor
    may see the charter's member list, hub.access.sees_members)."""
    withheld = dataset.access == "personal" and not (whole or reads_log)
    logged = access.shared_level(dataset) != "open" and not withheld
    delivered = sorted(as_utc(r.started_at) for r in runs if r.status in DELIVERED)
    gaps = [b - a for a, b in zip(delivered, delivered[1:], strict=False) if b > a]
    reported = [r for r in runs if r.report is not None]
    return Card(
        title=dataset.title,
        description=shortened(dataset.description),
        theme=dataset.theme,
        organization=detail.organization.name,
        organization_kind=detail.organization.kind,
        source_host=urlsplit(web_url(dataset.source_url)).hostname or "",
        source_file=urlsplit(dataset.source_url).scheme == "file",
        access=access.shared_level(dataset),
        whole=whole,
        bbox=dataset.bbox if whole else None,
        time_min=as_utc(dataset.time_min) if whole and dataset.time_min else None,
        time_max=as_utc(dataset.time_max) if whole and dataset.time_max else None,
        published_at=as_utc(dataset.published_at) if dataset.published_at else None,
        stale=detail.freshness.stale,
        schedule=schedule_of(session, runs),
        cadence=timedelta(seconds=statistics.median(g.total_seconds() for g in gaps))
        if gaps
        else None,
        runs=len(runs),
        valid_runs=sum(1 for r in reported if (r.report or {}).get("valid")),
        reported_runs=len(reported),
        rows_read=sum(r.rows_read for r in runs) if whole else None,
        rows_quarantined=sum(r.rows_quarantined for r in runs) if whole else None,
        charter=charter,
        term=term,
        licence=dataset.licence_title or dataset.licence_id,
        licence_id=dataset.licence_id,
        mention=dataset.mandatory_mention,
        usage=usage_of(session, dataset.id, now) if logged else None,
        members=sorted(charter.restricted_to) if charter and sees_members else [],
        grid=detail.grid is not None,
        usage_withheld=withheld,
    )


def shortened(text: str) -> str:
    """A description's first sentences, up to `DESCRIPTION_CHARS`."""
    text = " ".join(text.split())
    if len(text) <= DESCRIPTION_CHARS:
        return text
    cut = text[:DESCRIPTION_CHARS]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > DESCRIPTION_CHARS // 3 else cut.rsplit(" ", 1)[0] + " …"


def schedule_of(session: Session, runs: list[HarvestRun]) -> str | None:
    """The cron schedule of the source behind the newest run, if it has one."""
    source = next((r.source_id for r in runs if r.source_id), None)
    if not source:
        return None
    found = session.get(HarvestSource, source)
    return found.schedule if found and found.enabled and found.schedule else None


def usage_of(session: Session, dataset_id: str, now: datetime | None = None) -> Usage:
    """Reads of the last `USAGE_DAYS` days by kind of actor, from the access log: one grouped
    query on its (dataset, time) index; counts only."""
    since = (now or datetime.now(UTC)) - timedelta(days=USAGE_DAYS)
    recent = (col(AccessEvent.dataset_id) == dataset_id, col(AccessEvent.at) >= since)
    grouped = session.exec(
        select(AccessEvent.actor_role, AccessEvent.outcome, sa.func.count())
        .where(*recent)
        .group_by(col(AccessEvent.actor_role), col(AccessEvent.outcome))
    ).all()
    readers = session.exec(
        select(sa.func.count(sa.distinct(col(AccessEvent.actor_id)))).where(
            *recent, col(AccessEvent.outcome) == "granted"
        )
    ).one()
    by_role = sorted(
        ((role, int(n)) for role, outcome, n in grouped if outcome == "granted"),
        key=lambda pair: (-pair[1], pair[0]),
    )
    refused = sum(int(n) for _, outcome, n in grouped if outcome != "granted")
    return Usage(by_role, int(readers or 0), refused)


# --- words ---------------------------------------------------------------------------------


def answers(facts: Card) -> list[tuple[str, str]]:
    """(question, answer) pairs in the current language."""
    return [
        (gettext("Who are you?"), who(facts)),
        (gettext("Who made you?"), maker(facts)),
        (gettext("Where do you live?"), where(facts)),
        (gettext("How often do you change?"), how_often(facts)),
        (gettext("How far back do you go?"), how_far(facts)),
        (gettext("Who may use you, and for what?"), who_may(facts)),
        (gettext("How reliable are you?"), reliability(facts)),
        (gettext("Who uses you?"), users(facts)),
    ]


def who(facts: Card) -> str:
    text = gettext("I am “%(title)s”, a dataset of the theme “%(theme)s”.") % {
        "title": facts.title,
        "theme": theme_name(facts.theme),
    }
    return f"{text} {facts.description}".strip()


def maker(facts: Card) -> str:
    kind = (
        gettext("a private company")
        if facts.organization_kind == "private"
        else gettext("a public body")
    )
    text = gettext("I am published by %(organization)s, %(kind)s.") % {
        "organization": facts.organization,
        "kind": kind,
    }
    if facts.source_host:
        text += " " + gettext("The hub collects me from %(host)s and checks every batch.") % {
            "host": facts.source_host
        }
    elif facts.source_file:  # pushed rows and derived alerts have no feed: nothing to say
        text += " " + gettext(
            "The hub reads me from a file placed in its folders and checks every batch."
        )
    return text


def where(facts: Card) -> str:
    if facts.bbox is None:
        if not facts.whole:
            return gettext(
                "My extent is computed from my records, so it is shown only to those who may "
                "read all of them."
            )
        return gettext("My records say nothing about place, or none is stored yet.")
    west, south, east, north = facts.bbox
    middle = (south + north) / 2
    wide = abs(east - west) * EARTH_KM_PER_DEGREE * max(0.0, math.cos(math.radians(middle)))
    tall = abs(north - south) * EARTH_KM_PER_DEGREE
    if wide < 1 and tall < 1:
        return gettext("I live at one place: latitude %(lat)s, longitude %(lon)s.") % {
            "lat": number(middle, 4),
            "lon": number((west + east) / 2, 4),
        }
    return gettext(
        "I cover an area of about %(wide)s km by %(tall)s km, between longitudes %(west)s and "
        "%(east)s and latitudes %(south)s and %(north)s."
    ) % {
        "wide": number(wide, 0),
        "tall": number(tall, 0),
        "west": number(west, 3),
        "east": number(east, 3),
        "south": number(south, 3),
        "north": number(north, 3),
    }


def how_often(facts: Card) -> str:
    parts = []
    if facts.schedule:
        parts.append(
            gettext("My source is collected %(when)s.") % {"when": schedule_words(facts.schedule)}
        )
    if facts.cadence is not None:
        parts.append(gettext("Lately, new data came %(every)s.") % {"every": every(facts.cadence)})
    if facts.published_at is not None:
        parts.append(
            gettext("My last new data arrived on %(day)s.") % {"day": day(facts.published_at)}
        )
    else:
        parts.append(gettext("No data has arrived yet."))
    if facts.stale:
        parts.append(gettext("That is later than expected for my theme: I may be out of date."))
    if not facts.schedule and facts.cadence is None:
        parts.append(gettext("I have no regular schedule that the hub knows of."))
    return " ".join(parts)


def how_far(facts: Card) -> str:
    if facts.time_min is None:
        if not facts.whole:
            return gettext(
                "My time span is computed from my records, so it is shown only to those who may "
                "read all of them."
            )
        return gettext("My records carry no time, or none is stored yet.")
    return gettext("My records go back to %(start)s and reach %(end)s.") % {
        "start": day(facts.time_min),
        "end": day(facts.time_max),
    }


def who_may(facts: Card) -> str:
    if facts.access == "open":
        return _open_terms(facts)
    level = {
        "restricted": gettext("Only the members my charter names may read my records: %(members)s.")
        % {"members": ", ".join(member_words(m) for m in facts.members)}
        if facts.members  # the list is shown to the charter's parties only (sees_members)
        else gettext("Only the members my charter names may read my records."),
        "personal": gettext(
            "My records hold personal data: each person may read their own, and a service only "
            "with that person's consent."
        ),
        "crisis": gettext("Only crisis cells may read my records, during a declared crisis."),
    }.get(
        facts.access,
        gettext("My access level is %(level)s.") % {"level": access_name(facts.access)},
    )
    parts = [level]
    charter = facts.charter
    if charter and charter.purposes:
        parts.append(
            gettext("My charter allows these purposes: %(purposes)s.")
            % {"purposes": ", ".join(purpose_name(p) for p in charter.purposes)}
        )
    if facts.licence:
        parts.append(gettext("Licence: %(licence)s.") % {"licence": facts.licence})
    term = facts.term
    if term and term.ended and term.ends:
        parts.append(gettext("My charter expired on %(day)s.") % {"day": day(term.ends)})
        parts.append(
            gettext("My records stay open under their licence.")
            if facts.access == "open"
            else gettext("My records are no longer shared.")
        )
    elif term and term.ends:
        parts.append(gettext("My charter is valid until %(day)s.") % {"day": day(term.ends)})
    elif charter:
        parts.append(gettext("My charter has no end date."))
    if term and term.upcoming:
        parts.append(
            gettext("From %(day)s, version %(version)s of my charter applies (%(level)s).")
            % {
                "day": day(term.upcoming.valid_from),
                "version": term.upcoming.version,
                "level": access_name(term.upcoming.access),
            }
        )
    if facts.mention:
        parts.append(gettext("Every reuse must show “%(mention)s”.") % {"mention": facts.mention})
    return " ".join(parts)


def _open_terms(facts: Card) -> str:
    """Open data's terms: its licence alone governs reuse, so the charter's purposes and dates
    (terms between the producer and the hub) are not said, lest they read as limits on reusers;
    and data under no stated licence is never said to be reusable."""
    if facts.licence_id == licences.NOT_SPECIFIED:
        parts = [
            gettext(
                "Anyone may read my records, but my source states no licence: reuse is not "
                "authorised without the producer's agreement."
            )
        ]
    elif licences.is_open(facts.licence_id):
        parts = [
            gettext(
                "Anyone may read my records and reuse them under my licence, %(licence)s: any "
                "use, commercial included, with no end date, crediting the source as it asks."
            )
            % {"licence": facts.licence}
        ]
    else:
        parts = [
            gettext(
                "Anyone may read my records; my licence, %(licence)s, alone governs their reuse: "
                "any use it allows, with no end date, crediting the source as it asks."
            )
            % {"licence": facts.licence or "—"}
        ]
    if facts.mention:
        parts.append(gettext("Every reuse must show “%(mention)s”.") % {"mention": facts.mention})
    return " ".join(parts)


def member_words(member: str) -> str:
    """A charter's `restricted_to` entry: an organization, or `role:…` for a kind of actor."""
    if member.startswith("role:"):
        role = member.removeprefix("role:")
        return gettext(ROLES[role]) if role in ROLES else role
    return member


def reliability(facts: Card) -> str:
    if not facts.runs:
        return gettext("I have not been collected yet.")
    parts = []
    if facts.reported_runs == 1:
        parts.append(
            gettext("My last checked batch had no error.")
            if facts.valid_runs
            else gettext("My last checked batch had errors.")
        )
    elif facts.reported_runs:
        parts.append(
            gettext("Of my last %(num)s checked batches, %(valid)s had no error.")
            % {"valid": number(facts.valid_runs), "num": number(facts.reported_runs)}
        )
    # a grid's runs read files, not rows: their counts would say "0 of 1 read" of millions of values
    if (
        not facts.grid
        and facts.rows_read is not None
        and facts.rows_quarantined is not None
        and facts.rows_read
    ):
        share = facts.rows_quarantined / facts.rows_read * 100
        counts = {
            "set_aside": ngettext(
                "%(num)s row was set aside (quarantined)",
                "%(num)s rows were set aside (quarantined)",
                facts.rows_quarantined,
            )
            % {"num": number(facts.rows_quarantined)},
            "read": ngettext("%(num)s read", "%(num)s read", facts.rows_read)
            % {"num": number(facts.rows_read)},
            "share": number(share, 2),
        }
        parts.append(
            # "them" only when a sentence about the batches comes first
            (
                gettext("Over them, %(set_aside)s out of %(read)s (%(share)s %%).")
                if parts
                else gettext("Over my batches, %(set_aside)s out of %(read)s (%(share)s %%).")
            )
            % counts
        )
    elif not facts.whole:
        parts.append(gettext("Row counts are shown only to those who may read all my records."))
    return " ".join(parts) or gettext("No batch of mine has been checked yet.")


def users(facts: Card) -> str:
    if facts.usage_withheld:
        return gettext(
            "Every read of my records is logged. Each person they concern sees every read of "
            "their own rows; how many read me, and who, is shown only to my producer and the "
            "hub’s administrators."
        )
    if facts.usage is None:
        return gettext("My records are open: their reads are not logged, so nobody is counted.")
    usage = facts.usage
    if not usage.by_role and not usage.refused:
        return gettext("Nobody read my records in the last %(days)s days.") % {
            "days": number(USAGE_DAYS)
        }
    parts = []
    if usage.by_role:
        counted = ", ".join(
            ngettext("%(num)s read by %(who)s", "%(num)s reads by %(who)s", n)
            % {"num": number(n), "who": gettext(ROLES.get(role, role)) if role in ROLES else role}
            for role, n in usage.by_role
        )
        parts.append(
            ngettext(
                "In the last %(days)s days, %(readers)s reader: %(counted)s.",
                "In the last %(days)s days, %(readers)s readers: %(counted)s.",
                usage.readers,
            )
            % {"days": number(USAGE_DAYS), "readers": number(usage.readers), "counted": counted}
        )
    if usage.refused:
        parts.append(
            ngettext(
                "%(num)s attempt was refused.", "%(num)s attempts were refused.", usage.refused
            )
            % {"num": number(usage.refused)}
        )
    return " ".join(parts)


def every(gap: timedelta) -> str:
    """A time between two deliveries, in words (`about every 2 hours`)."""
    seconds = gap.total_seconds()
    if seconds < 55 * 60:
        minutes = max(1, round(seconds / 60))
        return ngettext("about every minute", "about every %(num)s minutes", minutes) % {
            "num": number(minutes)
        }
    if seconds < 20 * 3600:
        hours = round(seconds / 3600)
        return ngettext("about every hour", "about every %(num)s hours", hours) % {
            "num": number(hours)
        }
    days = round(seconds / 86400)
    return ngettext("about every day", "about every %(num)s days", days) % {"num": number(days)}


def schedule_words(cron: str) -> str:
    """A five-field cron schedule (UTC) in words; an unusual one is quoted as written."""
    parts = cron.split()
    if len(parts) != 5:
        return gettext("on the schedule “%(cron)s”") % {"cron": cron}
    minute, hour, month_day, month, week_day = parts
    rest_any = month_day == "*" and month == "*" and week_day == "*"
    if rest_any and hour == "*" and minute.startswith("*/") and minute[2:].isdigit():
        n = int(minute[2:])
        return ngettext("every minute", "every %(num)s minutes", n) % {"num": number(n)}
    if rest_any and hour == "*" and minute.isdigit():
        return ngettext("every hour", "every %(num)s hours", 1) % {"num": number(1)}
    if rest_any and minute.isdigit() and hour.startswith("*/") and hour[2:].isdigit():
        n = int(hour[2:])
        return ngettext("every hour", "every %(num)s hours", n) % {"num": number(n)}
    if rest_any and minute.isdigit() and hour.isdigit():
        return gettext("every day at %(time)s UTC") % {"time": f"{int(hour):02d}:{int(minute):02d}"}
    if (
        month_day == "*"
        and month == "*"
        and week_day.isdigit()
        and minute.isdigit()
        and hour.isdigit()
    ):
        return gettext("every week")
    if (
        month == "*"
        and week_day == "*"
        and month_day.isdigit()
        and minute.isdigit()
        and hour.isdigit()
    ):
        return gettext("every month")
    return gettext("on the schedule “%(cron)s”") % {"cron": cron}
