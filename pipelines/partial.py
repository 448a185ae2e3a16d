"""Partial downloads: written beside their target under a temporary name, never left behind.

A failed or interrupted write removes its temporary file (`finally`, so exceptions and Ctrl-C
too). SIGTERM's default action ends the process without running `finally`: the first download
written by the main thread puts a handler in front of SIGTERM's, which does what SIGTERM did
before and, if that ends the process, removes the unfinished files first. SIGKILL cannot be
caught: the names carry the writer's pid, and `sweep` removes those whose process is gone.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import BinaryIO

log = logging.getLogger(__name__)

SUFFIX = ".part"
_unfinished: set[Path] = set()
# Re-entrant: the SIGTERM handler runs in the main thread, which may be holding it.
_lock = threading.RLock()
_previous: object = signal.SIG_DFL


@contextmanager
def writing(target: Path) -> Iterator[BinaryIO]:
    """A temporary file beside `target`, moved into place only if the block succeeds."""
    _remove_on_sigterm()
    tmp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}{SUFFIX}"
    with _lock:  # known before it exists: a SIGTERM right after creating it still finds it
        _unfinished.add(tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except BaseException:
        with _lock:  # not ours (a name taken already): not ours to remove either
            _unfinished.discard(tmp)
        raise
    try:
        with open(fd, "wb") as file:
            yield file
        tmp.replace(target)
    finally:
        with _lock:
            _unfinished.discard(tmp)
        tmp.unlink(missing_ok=True)


def sweep(folder: Path) -> None:
    """Remove the partial files in `folder` whose writing process is gone (killed by SIGKILL)."""
    if not folder.is_dir():
        return
    for path in folder.glob(f".*{SUFFIX}"):
        pid = _writer_pid(path)
        if pid is not None and pid != os.getpid() and not _alive(pid):
            log.info("removing %s, left by process %d", path.name, pid)
            path.unlink(missing_ok=True)


def _writer_pid(path: Path) -> int | None:
    """The pid in a partial file's name: `.NAME.PID.RANDOM.part`."""
    parts = path.name.removesuffix(SUFFIX).rsplit(".", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_on_sigterm() -> None:
    """Put `_on_sigterm` in front of SIGTERM's handler (Python lets only the main thread)."""
    global _previous
    if threading.current_thread() is not threading.main_thread():
        return  # the main thread's own downloads install it; a worker's rely on sweep
    current = signal.getsignal(signal.SIGTERM)
    if current is not _on_sigterm:  # installed once, again if someone replaced it since
        _previous = current
        signal.signal(signal.SIGTERM, _on_sigterm)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Do what SIGTERM did before, removing the unfinished downloads if the process ends."""
    if _previous is signal.SIG_IGN:
        return
    if callable(_previous):  # Prefect's flow engine, say: it raises to end the run
        try:
            _previous(signum, frame)
        except BaseException:
            _remove_unfinished()
            raise
        return  # the process carries on, and so do its downloads
    _remove_unfinished()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _remove_unfinished() -> None:
    """Delete every partial file of this process: it is ending, they will never be finished."""
    with _lock:
        unfinished = list(_unfinished)
    for path in unfinished:
        path.unlink(missing_ok=True)
