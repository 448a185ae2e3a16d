"""What harvests that died left of personal feeds: deleted as soon as the hub notices.

A harvest that is killed (kill -9, a crash, the machine's power) never settles its download.
An open feed's leftover goes after a day (`downloads.purge`). A personal feed's holds personal
data outside the catalogue's access rules, so it goes when the run is recovered as failed and,
for a harvest that died before its run opened, at the next start of `hub serve` or `hub
harvest`. A folder that a live process is harvesting into is never touched (`downloads.unheld`).
Neither is the folder of a source with a run still running elsewhere (another host).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from hub import charters
from hub.models import Dataset, HarvestRun
from pipelines import downloads
from pipelines.roots import downloads_dir

log = logging.getLogger(__name__)


def forget_personal(engine: Engine, source_ids: Iterable[str] | None = None) -> int:
    """Delete the downloads of the personal sources among `source_ids` (every source with a
    download folder by default) that no live harvest holds; how many files went."""
    root = downloads_dir()
    if not root.is_dir():
        return 0
    names = (
        sorted(p.name for p in root.iterdir() if p.is_dir() and not p.is_symlink())
        if source_ids is None
        else sorted(set(source_ids))
    )
    charter_of_file: dict[str, str] | None = None
    removed = 0
    for source_id in names:
        folder = root / source_id
        if not source_id or not folder.is_dir() or folder.is_symlink():
            continue
        stored, running = _charters_and_running(engine, source_id)
        if running:
            continue  # a run still open, elsewhere maybe: its process may be reading the feed
        if charter_of_file is None:
            charter_of_file = _charters_of_source_files()
        named = {*stored, charter_of_file.get(source_id, "")} - {""}
        if not _any_personal(named):
            continue
        with downloads.unheld(folder) as free:
            if free:
                removed += downloads.delete_all(folder)
    if removed:
        log.warning("deleted %d download(s) of personal feeds left by stopped harvests", removed)
    return removed


def _charters_and_running(engine: Engine, source_id: str) -> tuple[set[str], bool]:
    """The charters of a source's runs and of the datasets they fed, and whether one runs."""
    with Session(engine) as session:
        rows = session.exec(
            select(HarvestRun.status, HarvestRun.charter_id, Dataset.charter_id)
            .join(Dataset, col(Dataset.id) == col(HarvestRun.dataset_id), isouter=True)
            .where(HarvestRun.source_id == source_id)
        ).all()
    found = {charter for _, *charters_ in rows for charter in charters_ if charter}
    return found, any(status == "running" for status, *_ in rows)


def _charters_of_source_files() -> dict[str, str]:
    """Each known source's charter, by source id."""
    from pipelines.sources import survey_sources

    return {source.id: source.charter for source in survey_sources().sources}


def _any_personal(charter_ids: set[str]) -> bool:
    """Whether one of these charters is personal; none known, or one unreadable: assume so."""
    if not charter_ids:
        return True
    for charter_id in charter_ids:
        try:
            if charters.load_charter(charter_id).access == "personal":
                return True
        except Exception:  # noqa: BLE001 — keep nothing rather than risk personal data
            return True
    return False
