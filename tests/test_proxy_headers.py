"""Whose X-Forwarded-For a real `hub serve` believes, seen through its bad-token limit: nobody's
by default, only the proxies' HUB_TRUSTED_PROXIES names."""

from __future__ import annotations

import json
import subprocess

import httpx
import pytest
from flows.processes import child_env
from test_server_log import HUB, SERVERS, server

from hub.cli import proxy_options
from hub.config import SettingsError, get_settings

ROUTE = "/api/v1/datasets"  # reads a token when one is sent
VICTIM = "203.0.113.7"
BAD = {"Authorization": "Bearer hub.0123456789abcdef.guessguessguessguessguess"}


def operator_token(tmp_path) -> str:
    """A valid token in the server's own store (its data folder holds the key)."""
    env = child_env(
        HUB_DATA_DIR=str(tmp_path / "var"), HUB_DATABASE_URL=f"sqlite:///{tmp_path / 'hub.db'}"
    )
    command = [str(HUB), "token", "create", "--role", "operator", "--org", "atmo-demo", "--json"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return str(json.loads(done.stdout)["token"])


def status(url: str, headers: dict[str, str], forwarded_for: str) -> int:
    return httpx.get(
        url + ROUTE, headers={**headers, "X-Forwarded-For": forwarded_for}, trust_env=False
    ).status_code


def test_a_spoofed_x_forwarded_for_neither_dodges_the_limit_nor_locks_a_victim_out(tmp_path):
    with server(tmp_path, SERVERS["hub serve"]) as (url, _):
        valid = {"Authorization": f"Bearer {operator_token(tmp_path)}"}
        # A new address on every guess: all are the peer's (127.0.0.1), the 21st is throttled.
        guesses = [status(url, BAD, f"10.0.0.{i}") for i in range(21)]
        assert guesses == [401] * 20 + [429]
        assert status(url, valid, VICTIM) == 200  # a valid token is never throttled


def test_a_named_proxy_forwards_each_clients_own_address(tmp_path):
    with server(tmp_path, SERVERS["hub serve"], HUB_TRUSTED_PROXIES="127.0.0.1") as (url, _):
        valid = {"Authorization": f"Bearer {operator_token(tmp_path)}"}
        assert [status(url, BAD, VICTIM) for _ in range(21)] == [401] * 20 + [429]
        assert status(url, BAD, "198.51.100.9") == 401  # another client behind the proxy
        # nginx's $proxy_add_x_forwarded_for appends the real peer to what a client claimed:
        # the address counted is the one the proxy saw.
        assert status(url, BAD, f"198.51.100.9, {VICTIM}") == 429
        assert status(url, valid, VICTIM) == 200


def test_uvicorn_believes_forwarded_headers_only_from_the_named_proxies(monkeypatch):
    monkeypatch.delenv("HUB_TRUSTED_PROXIES", raising=False)
    get_settings.cache_clear()
    assert proxy_options() == {"proxy_headers": False}
    monkeypatch.setenv("HUB_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/24 ::1")
    get_settings.cache_clear()
    assert proxy_options() == {
        "proxy_headers": True,
        "forwarded_allow_ips": ["127.0.0.1", "10.0.0.0/24", "::1"],
    }
    for word in ("true", "*", "proxy.internal"):
        monkeypatch.setenv("HUB_TRUSTED_PROXIES", word)
        get_settings.cache_clear()
        with pytest.raises(SettingsError, match="HUB_TRUSTED_PROXIES"):
            get_settings()
    get_settings.cache_clear()
