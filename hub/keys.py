"""The hub's secret key and its private data folder: generated once, kept readable by us only."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from hub.config import get_settings

log = logging.getLogger(__name__)

MIN_KEY_BYTES = 32
KEY_FILE = "secret.key"


class SecretKeyError(RuntimeError):
    """A secret key the hub refuses to start with."""


def private_folder(folder: Path) -> Path:
    """Create `folder` (mode 0700) if missing; tighten it if others can read it."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if folder.stat().st_mode & 0o077:
        try:
            folder.chmod(0o700)
        except PermissionError:  # a shared folder we do not own: say so, do not fail
            log.warning("data folder %s is readable by others and not ours to tighten", folder)
    return folder


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if missing; tighten an existing one to 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # never chmod a folder not ours
    descriptor = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(descriptor)
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return path


def secret_key() -> bytes:
    """HUB_SECRET_KEY, else the key generated on first start and kept in the data folder."""
    configured = get_settings().secret_key
    if configured:
        key = configured.encode()
        if len(key) < MIN_KEY_BYTES:
            raise SecretKeyError(
                f"HUB_SECRET_KEY is {len(key)} bytes long; the hub needs at least "
                f"{MIN_KEY_BYTES} (e.g. `python3 -c 'import secrets; "
                "print(secrets.token_urlsafe(48))'`), or leave it unset to have one "
                "generated and kept in HUB_DATA_DIR"
            )
        return key
    folder = str(get_settings().data_dir)
    if folder not in _kept:  # read once per process: the token check runs on every request
        _kept[folder] = _stored_key((Path(folder) / KEY_FILE).resolve())
    return _kept[folder]


_kept: dict[str, bytes] = {}


def _stored_key(path: Path) -> bytes:
    """Read the kept key, or keep a new random one; a hard link makes two first starts agree."""
    private_folder(path.parent)
    if not path.exists():
        draft = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(draft, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_urlsafe(48).encode())
        try:
            os.link(draft, path)  # atomic, and refuses to replace a key another start kept
            log.info("generated the hub's secret key in %s", path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_bytes().strip()
    if len(key) < MIN_KEY_BYTES:
        raise SecretKeyError(
            f"{path} holds a key of {len(key)} bytes; the hub needs at least "
            f"{MIN_KEY_BYTES}: delete the file to have a new one generated "
            "(tokens issued with the old key stop working)"
        )
    if path.stat().st_mode & 0o077:
        path.chmod(0o600)
    return key
