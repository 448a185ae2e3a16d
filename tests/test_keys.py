"""The secret key and the data folder: generated once, private, never a fixed development key."""

from __future__ import annotations

import stat

import pytest
from api.support import client_for

from hub.config import get_settings
from hub.keys import SecretKeyError, secret_key


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_an_unset_key_is_generated_once_and_kept_private(hub_env):
    key = secret_key()
    kept = hub_env / "secret.key"
    assert len(key) >= 32 and kept.read_bytes().strip() == key
    assert mode(kept) == 0o600 and mode(hub_env) == 0o700
    get_settings.cache_clear()
    assert secret_key() == key


def test_two_hubs_get_different_keys(tmp_path, monkeypatch):
    keys = set()
    for name in ("one", "two"):
        monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / name))
        get_settings.cache_clear()
        keys.add(secret_key())
    assert len(keys) == 2


def test_a_short_key_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setenv("HUB_SECRET_KEY", "dev-secret-change-me")
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError, match="at least 32"):
        secret_key()


def test_the_hub_does_not_start_with_a_short_key(engine, monkeypatch):
    monkeypatch.setenv("HUB_SECRET_KEY", "short")
    get_settings.cache_clear()
    with pytest.raises(SecretKeyError), client_for(engine):
        pass


def test_a_long_configured_key_is_used_as_is(monkeypatch):
    monkeypatch.setenv("HUB_SECRET_KEY", "x" * 32)
    get_settings.cache_clear()
    assert secret_key() == b"x" * 32


def test_the_embedded_database_is_readable_by_the_hub_only(hub_env):
    from hub.db import get_engine, upgrade

    upgrade(get_engine())
    database = hub_env / "hub.db"
    assert mode(database) == 0o600
    for sidecar in (hub_env / "hub.db-wal", hub_env / "hub.db-shm"):
        if sidecar.exists():
            assert mode(sidecar) & 0o077 == 0


def test_an_existing_open_database_file_is_tightened(hub_env):
    from hub.db import get_engine, reset_engines

    hub_env.mkdir(parents=True, exist_ok=True)
    (hub_env / "hub.db").touch(mode=0o644)
    (hub_env / "hub.db").chmod(0o644)
    reset_engines()
    get_engine()
    assert mode(hub_env / "hub.db") == 0o600
