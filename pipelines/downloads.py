"""Downloaded feeds: where a source's fetches land, and how long they stay once harvested.

A feed's batch holds what the hub keeps of it; the downloaded file is deleted once its batch is
published, refused or failed, unless `HUB_KEEP_DOWNLOADS_DAYS` keeps downloads that many days
(to debug an operator's feed, say). A feed under a `personal` charter is never kept: it holds
personal data the hub must not keep outside the catalogue's access rules; what a harvest that
died left of one goes as soon as the hub notices (`pipelines.leftovers`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hub import charters
from hub.config import get_settings
from pipelines import partial
from pipelines.roots import downloads_dir
from pipelines.sources import Source

log = logging.getLogger(__name__)

DAY_SECONDS = 86_400
# With nothing kept, a file older than this was left by a harvest that died before settling.
LEFTOVER_SECONDS = DAY_SECONDS


def folder_for(source: Source) -> Path:
    """The folder a source's feeds are downloaded to."""
    return downloads_dir() / source.id


# A source's folder is held (a shared flock on the folder itself) by every process harvesting
# the source, from before its fetch to after its settling. The kernel lets it go when the
# process ends, kill -9 included.


@contextmanager
def harvesting(source: Source) -> Iterator[None]:
    """Hold the source's download folder for the length of one harvest."""
    folder = folder_for(source)
    folder.mkdir(parents=True, exist_ok=True)
    with _opened(folder) as held:
        fcntl.flock(held, fcntl.LOCK_SH)  # waits only while a sweep deletes this folder
        yield


@contextmanager
def unheld(folder: Path) -> Iterator[bool]:
    """Whether no process harvests into `folder`; while the block runs, none starts to."""
    if not folder.is_dir():
        yield False
        return
    with _opened(folder) as held:
        try:
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # a live process harvests this source
            yield False
            return
        yield True


@contextmanager
def _opened(folder: Path) -> Iterator[int]:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield descriptor
    finally:
        os.close(descriptor)  # and with it the lock


def delete_all(folder: Path) -> int:
    """Delete every download under `folder`, and partial files of dead processes."""
    for inner in (folder, *(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())):
        partial.sweep(inner)
    return _delete_finished(folder, float("inf"))


def settle(source: Source) -> None:
    """After a harvest: delete its downloads unless kept, and purge expired ones of every source."""
    keep_days = get_settings().keep_downloads_days
    if keep_days <= 0 or _is_personal(source):
        _delete_finished(folder_for(source), float("inf"))
    purge(keep_days * DAY_SECONDS if keep_days > 0 else LEFTOVER_SECONDS)


def purge(older_than: float) -> int:
    """Delete downloads older than `older_than` seconds, and partial files of dead processes."""
    root = downloads_dir()
    if not root.is_dir():
        return 0
    limit = time.time() - older_than
    removed = 0
    for folder in (p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        for inner in (folder, *(p for p in folder.rglob("*") if p.is_dir() and not p.is_symlink())):
            partial.sweep(inner)
        removed += _delete_finished(folder, limit)
    if removed:
        log.info("purged %d expired download(s)", removed)
    return removed


def _delete_finished(folder: Path, before: float) -> int:
    """Delete the downloads under `folder` last written before `before` (partial files excepted).

    Archive members and linked documents sit in sub-folders; emptied ones go too.
    """
    if not folder.is_dir():
        return 0
    removed = 0
    try:
        paths = sorted(folder.rglob("*"), reverse=True)  # a folder's files before the folder
    except OSError:  # another harvest settled this folder while it was walked
        return 0
    for path in paths:
        if path.is_symlink() or path.name.startswith(".") or _mtime(path) >= before:
            continue  # a fresh folder may be a running harvest's: left alone
        try:
            if path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
        except OSError:  # gone, or filled, meanwhile: another harvest's business
            continue
    return removed


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # another harvest settled it first
        return float("inf")


def _is_personal(source: Source) -> bool:
    """Whether a source's charter is `personal`; when that cannot be told, assume it is."""
    try:
        return charters.load_charter(source.charter).access == "personal"
    except Exception:  # noqa: BLE001 — unknown or broken charter: keep nothing rather than risk it
        return True
