"""The licences a charter may name: one table that the profile, CKAN, DCAT, RUDI, the data
package, the UI and the gate's licence check all read.

Ids are SPDX's where SPDX has one (`CC0-1.0`, `CC-BY-SA-4.0`), else udata/CKAN's (`other-pd`,
`other-at`, `notspecified`). `custom` stays for a bespoke agreement, judged by people, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

# What a licence asks of a reuse. Share-alike is one condition per family: CC BY-SA data cannot
# be relicensed under the ODbL, nor the reverse. NO_GRANT: nothing is granted (no licence stated).
ATTRIBUTION, NON_COMMERCIAL, NO_GRANT = "attribution", "non-commercial", "no-grant"
SHARE_ALIKE_CC, SHARE_ALIKE_ODBL = "share-alike-cc", "share-alike-odbl"
CUSTOM, NOT_SPECIFIED = "custom", "notspecified"
ROW_FIELD = "license"  # a row's own licence (Darwin Core's dcterms:license), where schemas have it
CONDITION_WORDS = {
    ATTRIBUTION: "attribution",
    NON_COMMERCIAL: "non-commercial use only",
    NO_GRANT: "the producer's agreement to any reuse",
    SHARE_ALIKE_CC: "share-alike under Creative Commons BY-SA",
    SHARE_ALIKE_ODBL: "share-alike under the ODbL",
}
NO_LICENCE_STATEMENT = (
    "The source states no licence: reuse is not authorised without the producer's agreement."
)


@dataclass(frozen=True)
class Licence:
    """A standard licence: its id, names, CKAN and EU ids, openness and what reuse owes."""

    id: str  # as charters write it
    title: str  # English; the UI translates it (hub/ui/licences.py)
    ckan_id: str  # CKAN's default licence list, where it has one; else `id`
    eu_code: str | None  # EU licence authority table (DCAT-AP), where it has one
    open: bool  # meets the Open Definition
    conditions: frozenset[str]
    urls: tuple[str, ...] = ()  # bare addresses (no scheme, www. or trailing /)


def _licence(
    id: str,
    title: str,
    ckan_id: str,
    eu_code: str | None,
    conditions: set[str],
    *urls: str,
    open: bool = True,
) -> Licence:
    return Licence(id, title, ckan_id, eu_code, open, frozenset(conditions), urls)


_CC = "creativecommons.org/licenses"
STANDARD = {
    licence.id: licence
    for licence in (
        _licence(
            "etalab-2.0",
            "Licence Ouverte / Open Licence 2.0 (Etalab)",
            "etalab-2.0",  # CKAN has none; udata says lov2
            "ETALAB_2_0",
            {ATTRIBUTION},
            "etalab.gouv.fr/licence-ouverte-open-licence",
        ),
        _licence(
            "ODbL-1.0",
            "Open Database License 1.0",
            "odc-odbl",
            "ODC_BL",
            {ATTRIBUTION, SHARE_ALIKE_ODBL},
            "opendatacommons.org/licenses/odbl/1-0",
            "opendatacommons.org/licenses/odbl/1.0",
            "opendatacommons.org/licenses/odbl",
        ),
        _licence(
            "ODC-BY-1.0",
            "Open Data Commons Attribution License 1.0",
            "odc-by",
            "ODC_BY",
            {ATTRIBUTION},
            "opendatacommons.org/licenses/by/1-0",
            "opendatacommons.org/licenses/by/1.0",
        ),
        _licence(
            "PDDL-1.0",
            "Open Data Commons Public Domain Dedication and License 1.0",
            "odc-pddl",
            "ODC_PDDL",
            set(),
            "opendatacommons.org/licenses/pddl/1-0",
            "opendatacommons.org/licenses/pddl/1.0",
        ),
        _licence(
            "CC0-1.0",
            "Creative Commons Zero 1.0 (public domain dedication)",
            "cc-zero",
            "CC0",
            set(),
            "creativecommons.org/publicdomain/zero/1.0",
        ),
        _licence(
            "public-domain",
            "Public domain",
            "other-pd",
            None,
            set(),
            "creativecommons.org/publicdomain/mark/1.0",
        ),
        _licence(
            "CC-BY-4.0",
            "Creative Commons Attribution 4.0",
            "cc-by",
            "CC_BY_4_0",
            {ATTRIBUTION},
            f"{_CC}/by/4.0",
        ),
        _licence(
            "CC-BY-3.0", "Creative Commons Attribution 3.0", "cc-by", "CC_BY_3_0", {ATTRIBUTION}
        ),
        _licence(
            "CC-BY-SA-4.0",
            "Creative Commons Attribution-ShareAlike 4.0",
            "cc-by-sa",
            "CC_BYSA_4_0",
            {ATTRIBUTION, SHARE_ALIKE_CC},
            f"{_CC}/by-sa/4.0",
        ),
        _licence(
            "CC-BY-SA-3.0",
            "Creative Commons Attribution-ShareAlike 3.0",
            "cc-by-sa",
            "CC_BYSA_3_0",
            {ATTRIBUTION, SHARE_ALIKE_CC},
            f"{_CC}/by-sa/3.0",
        ),
        _licence(
            "CC-BY-NC-4.0",
            "Creative Commons Attribution-NonCommercial 4.0",
            "cc-nc",
            "CC_BYNC_4_0",
            {ATTRIBUTION, NON_COMMERCIAL},
            f"{_CC}/by-nc/4.0",
            open=False,
        ),
        _licence(
            "other-at",
            "Other licence (attribution required)",
            "other-at",
            None,
            {ATTRIBUTION},
        ),
        _licence(
            NOT_SPECIFIED,
            "Licence not specified",
            NOT_SPECIFIED,
            None,
            {NO_GRANT},
            open=False,
        ),
    )
}
IDS = [*STANDARD, CUSTOM]  # what the charter profile accepts
_BY_ID = {key.lower(): licence for key, licence in STANDARD.items()}
_BY_URL = {url: licence for licence in STANDARD.values() for url in licence.urls}
# Ids other catalogues write for the same licences (CKAN's, RUDI's, older SPDX forms).
_ALIASES = {
    "lo-2.0": "etalab-2.0",
    "lov2": "etalab-2.0",
    "odc-odbl": "ODbL-1.0",
    "odc-by": "ODC-BY-1.0",
    "odc-pddl": "PDDL-1.0",
    "cc-zero": "CC0-1.0",
    "cc0": "CC0-1.0",
    "public-domain-cc0": "CC0-1.0",
    "other-pd": "public-domain",
    "cc-by": "CC-BY-4.0",
    "cc-by-sa": "CC-BY-SA-4.0",
    "cc-nc": "CC-BY-NC-4.0",
    "cc-by-nc": "CC-BY-NC-4.0",
}


def standard(licence_id: str) -> Licence | None:
    """The standard licence of a charter's id (any case), None for `custom` or an unknown id."""
    return _BY_ID.get(licence_id.strip().lower())


def recognised(declared: str) -> Licence | None:
    """The standard licence a feed declares, by its id, another catalogue's id or its URL."""
    text = declared.strip()
    found = standard(text) or standard(_ALIASES.get(text.lower(), ""))
    if found or "/" not in text:
        return found
    bare = text.lower().split("://", 1)[-1].removeprefix("www.").rstrip("/")
    bare = bare.removesuffix("/legalcode").removesuffix("/deed.en").rstrip("/")
    return _BY_URL.get(bare)


def is_open(licence_id: str) -> bool:
    """Whether the licence meets the Open Definition (`custom` never does, being unreviewed)."""
    licence = standard(licence_id)
    return licence is not None and licence.open


def ckan_id(licence_id: str) -> str:
    """The id CKAN's licence list gives the licence; a charter's own id where CKAN has none."""
    licence = standard(licence_id)
    return licence.ckan_id if licence else (licence_id or NOT_SPECIFIED)


def charter_ids_of(ckan_or_charter_id: str) -> list[str]:
    """The charter ids a CKAN licence id stands for (cc-by-sa: both versions), or the id given."""
    wanted = ckan_or_charter_id.strip().lower()
    found = [k for k, v in STANDARD.items() if v.ckan_id == wanted and k.lower() != wanted]
    return [ckan_or_charter_id, *found]


def uncovered(feed: Licence, charter_licence_id: str) -> str | None:
    """Why a charter's licence cannot cover data the feed licenses under `feed`, or None when it
    can: the charter republishes the data, so it must ask of reusers at least what the feed does.
    A bespoke (`custom`) charter is a people's judgement, never refused here."""
    if feed.id.lower() == charter_licence_id.strip().lower():
        return None
    charter = standard(charter_licence_id)
    if charter is None or NO_GRANT in charter.conditions:  # bespoke, or grants nothing
        return None
    missing = feed.conditions - charter.conditions
    if not missing:
        return None
    asks = " and ".join(CONDITION_WORDS[c] for c in sorted(missing))
    return (
        f"the feed licenses its data under {feed.id}, which asks for {asks}"
        f"; the charter's licence {charter.id} does not, so the hub would republish the data "
        "more openly than its producer allows"
    )


def refusal_of(declared: str, charter_id: str, charter_licence_id: str) -> str | None:
    """The gate's reason to refuse a batch whose feed declares (EML intellectualRights, a
    portal's licence) a licence the charter's does not cover; None when it does, or when the
    declaration names no licence the hub knows (the run's report then says so)."""
    feed = recognised(declared)
    why = uncovered(feed, charter_licence_id) if feed else None
    if why is None:
        return None
    return (
        f"charter {charter_id!r} cannot cover this batch: {why}. Ask the producer for a charter "
        f"under {feed.id if feed else declared} (or one that asks no less), then harvest again"
    )


def unjudged_note(declared: str) -> list[str]:
    """The report's note on a feed's declared licence the hub cannot compare with the charter's."""
    if not declared.strip() or recognised(declared):
        return []
    return [
        f"the feed declares the licence {declared.strip()[:200]!r}, which the hub does not know: "
        "check that the charter's licence covers it"
    ]


def uncovered_rows(frame: pl.DataFrame, charter_licence_id: str) -> list[tuple[int, str]]:
    """(source row, why) of the rows whose own licence (Darwin Core's dcterms:license, the
    schema's ROW_FIELD) the charter's licence does not cover: the gate quarantines them."""
    if ROW_FIELD not in frame.columns:
        return []
    reasons = {}
    for value in frame.get_column(ROW_FIELD).drop_nulls().unique().to_list():
        feed = recognised(str(value))
        why = uncovered(feed, charter_licence_id) if feed else None
        if why:
            reasons[value] = why.replace("the feed licenses its data", "this row is licensed")
    if not reasons:
        return []
    hit = frame.filter(pl.col(ROW_FIELD).is_in(list(reasons)))
    return [
        (row, reasons[value])
        for row, value in zip(hit.get_column("_row"), hit.get_column(ROW_FIELD), strict=True)
    ]
