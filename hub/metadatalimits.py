"""Caps on the metadata the gate stores: a dataset's title, description and keywords.

Every catalogue page, search, DCAT feed and CKAN answer carries this metadata, so one feed's
29 MB EML abstract or 20 000 keywords would slow them all for everyone. Whatever the way in
(a source file, an EML, a portal's listing, CKAN's package_create), the gate cuts what passes
a cap and says so in the run; CKAN's writes refuse it first, so that their caller can fix it.
"""

from __future__ import annotations

from typing import Protocol

from hub.batches import AnyBatch, MetadataBatch

TITLE_MAX = 300  # characters: data.gouv.fr's and DCAT-AP harvesters' titles stay well below
DESCRIPTION_MAX = 20_000  # characters: GBIF's longest abstracts are a few thousand
KEYWORDS_MAX = 100  # keywords a dataset keeps, in their order
KEYWORD_MAX = 100  # characters of one keyword (CKAN's tag limit)
CUT_MARK = " […]"


class Described(Protocol):
    """A batch, or one dataset of a portal's listing: what carries the capped metadata."""

    title: str
    description: str
    keywords: list[str]


def cap_batch(batch: AnyBatch) -> list[str]:
    """Cut the batch's metadata (and each portal entry's) to the caps; the run's notes."""
    notes = _capped(batch, batch.dataset_id)
    if isinstance(batch, MetadataBatch):
        for entry in batch.datasets:
            notes += _capped(entry, entry.id)
    return notes


def problems(title: str, description: str, keywords: list[str]) -> dict[str, str]:
    """What passes a cap, by metadata field (empty when all fit): for writes that refuse."""
    found = {}
    if len(title) > TITLE_MAX:
        found["title"] = f"at most {TITLE_MAX:,} characters ({len(title):,} given)"
    if len(description) > DESCRIPTION_MAX:
        found["description"] = (
            f"at most {DESCRIPTION_MAX:,} characters ({len(description):,} given)"
        )
    if len(keywords) > KEYWORDS_MAX:
        found["keywords"] = f"at most {KEYWORDS_MAX:,} keywords ({len(keywords):,} given)"
    elif any(len(keyword) > KEYWORD_MAX for keyword in keywords):
        found["keywords"] = f"each keyword has at most {KEYWORD_MAX} characters"
    return found


def _capped(item: Described, name: str) -> list[str]:
    """Cut one item's title, description and keywords in place; a note for each cut."""
    found = problems(item.title, item.description, item.keywords)
    if not found:
        return []
    item.title = _cut(item.title, TITLE_MAX)
    item.description = _cut(item.description, DESCRIPTION_MAX)
    kept = [_cut(keyword, KEYWORD_MAX, "…") for keyword in item.keywords[:KEYWORDS_MAX]]
    item.keywords = list(dict.fromkeys(kept))
    return [f"{name}: {field} cut to the hub's cap, {why}" for field, why in sorted(found.items())]


def _cut(text: str, limit: int, mark: str = CUT_MARK) -> str:
    """`text`, or its start and a mark saying it was cut, in `limit` characters at most."""
    if len(text) <= limit:
        return text
    return text[: limit - len(mark)].rstrip() + mark
