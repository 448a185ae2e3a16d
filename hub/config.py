"""Typed settings read from HUB_* environment variables."""

from __future__ import annotations

import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, FilePath, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _split_paths(value: object) -> list[Path]:
    """Split a `:`-separated list of folders, dropping empty parts."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [Path(v) for v in value]
    return [Path(p) for p in str(value).split(os.pathsep) if p]


def _words_of(value: object) -> list[str]:
    """Split a space- or comma-separated list of words."""
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return [w for w in str(value).replace(",", " ").split() if w]


class SettingsError(ValueError):
    """A HUB_* variable the hub cannot use: one line per variable, naming it."""


class Settings(BaseSettings):
    """The hub's settings; every field maps to HUB_<NAME>; an empty variable is an unset one."""

    model_config = SettingsConfigDict(env_prefix="HUB_", extra="ignore", env_ignore_empty=True)

    data_dir: Path = Path("./var")
    database_url: str = ""
    bus_url: str = ""
    # The MQTT bridge (hub.mqtt): mqtt://[user:pass@]host[:port] or mqtts://; unset, no bridge.
    mqtt_url: str = ""
    mqtt_topic_root: str = "hub"  # first topic level(s) of the bridge: ROOT/theme/dataset/type
    secret_key: str = ""  # unset: generated once and kept in data_dir (see hub.keys)
    schemas_path: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    charters_path: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    sources_path: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    alert_rules_path: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    thesaurus_path: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    samples_dir: Path = PROJECT_ROOT.parent / "shared" / "data"
    fetch_timeout: float = 30.0  # connect and read timeouts of one http(s) request, seconds
    fetch_retries: int = 3
    fetch_deadline: float = 600.0  # a whole fetch, retries included, seconds (source option too)
    # Bytes one fetched feed, its gunzipped file or its archive's members may hold, in all.
    fetch_max_bytes: int = Field(default=1024**3, ge=1)
    # Hosts or networks (CIDR) a fetch may reach although private, loopback or link-local.
    fetch_allow_private: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Folders `file://` sources may read, besides their own folder, sources_path and samples_dir.
    file_roots: Annotated[list[Path], NoDecode] = Field(default_factory=list)
    keep_downloads_days: int = 0  # downloaded feeds kept after publication (never: personal)
    # Expired or revoked tokens kept this long (who held one stays known), then deleted.
    keep_tokens_days: int = Field(default=90, ge=0)
    # Tombstones of datasets a portal dropped, listed this long to harvesters (hub.tombstones).
    keep_tombstones_days: int = Field(default=365, ge=1)
    # The longest a token issued by its organization itself may last (hub.orgtokens).
    max_token_days: int = Field(default=365, ge=1)
    public_url: str = ""  # the hub's absolute URL in links; unset: the address it serves on
    # The licence of the catalogue's metadata (DCAT's dct:license): a licence id or a URL.
    catalogue_licence: str = "etalab-2.0"
    # Addresses or networks (CIDR) of the proxies whose X-Forwarded-For / -Proto `hub serve`
    # believes; unset, none: a client could otherwise name any address (hub.proxies).
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1_048_576  # request bodies over this are a 413
    max_invalid_share: float = 0.5  # a batch with more invalid rows fails whole (source option)
    quarantine_cap: int = 100_000  # a batch quarantining more rows fails whole (source option)
    # Values one grid answer may hold (NetCDF); JSON answers take a sixteenth (hub.gridsubsets).
    grid_max_cells: int = Field(default=4_000_000, ge=1)
    # Rows one download may hold (a data package, a whole CSV): past it, a 400 says to narrow it.
    max_export_rows: int = Field(default=20_000_000, ge=1)
    sqlite_busy_seconds: float = 60.0  # how long a SQLite write waits for another writer's lock
    heartbeat_seconds: float = 15.0  # how often a running harvest says it is alive
    stale_run_seconds: float = 60.0  # a run silent this long, its process gone, is failed
    recover_runs_seconds: float = 30.0  # how often `hub serve` looks for such runs
    harvest_concurrency: int = Field(default=4, ge=1)  # sources one harvest runs at once
    # The port of the Prefect server `hub serve` starts (unset: a free one).
    prefect_port: int | None = Field(default=None, ge=1, le=65535)
    # Map tiles: a URL template with {z}, {x}, {y} ({s} for subdomains), absolute http(s) or on
    # the hub itself ("/tiles/…"). Unset, maps draw over a plain background with the outline.
    tiles_url: str = ""
    tiles_attribution: str = ""  # the tiles' credit line, shown on every map (plain text)
    # The territory's outline (GeoJSON, WGS84); unset, the hull of the open datasets' extents.
    territory_file: FilePath | None = None
    # The territory's time zone (IANA name): a charter's days are its days (hub.charterdays),
    # and the pages' times and the spreadsheet downloads they link are in it.
    timezone: str = "Europe/Paris"

    @field_validator("fetch_allow_private", mode="before")
    @classmethod
    def _words(cls, value: object) -> list[str]:
        words = _words_of(value)
        for word in words:  # `1` or `true` (a switch, as other settings are) would name no one
            if not _host_or_network(word):
                raise ValueError(
                    f"lists host names, addresses or networks (feeds.internal, 127.0.0.1, "
                    f"10.0.0.0/8), not a switch: {word[:60]!r} is none of them"
                )
        return words

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> list[str]:
        words = _words_of(value)
        for word in words:  # the server compares a peer's address: a host name never matches
            try:
                ipaddress.ip_network(word, strict=False)
            except ValueError:
                raise ValueError(
                    f"lists the proxies' addresses or networks (127.0.0.1, 10.0.0.0/24), "
                    f"not host names or switches: {word[:60]!r} is neither"
                ) from None
        return words

    @field_validator("tiles_url")
    @classmethod
    def _tiles(cls, value: str) -> str:
        if not value:
            return value
        if not all(part in value for part in ("{z}", "{x}", "{y}")):
            raise ValueError("must be a tile URL template holding {z}, {x} and {y}")
        if value.startswith("/") and not value.startswith("//"):
            return value  # tiles the hub serves itself
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is no number raises ValueError here, at start
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL or a path on the hub (/…)")
        if "{" in parts.hostname.partition(".")[2]:
            # The pages' Content-Security-Policy names the tiles' origin: only the first label
            # may vary ({s}.tile.example.org is allowed as *.tile.example.org).
            raise ValueError("may vary in its host's first label only")
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            # No example: the error is printed lower-cased, and zone names are case-sensitive.
            raise ValueError("must name a zone of the IANA time zone database") from None
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _mqtt_url(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - a port that is no number raises ValueError here, at start
        except ValueError:
            raise ValueError("must have a port number from 0 to 65535") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError("must be mqtt://[user:password@]host[:port] or mqtts://…")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must name a broker only, with no path or query")
        return value

    @field_validator("bus_url")
    @classmethod
    def _bus_url(cls, value: str) -> str:
        # A typo must stop the start: falling back to the in-process bus would pass for a
        # working setup while replicas no longer wake each other (infra/replicas.md).
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme == "unix":
            if parts.hostname or not parts.path.startswith("/"):
                raise ValueError("must name a socket by its absolute path: unix:///run/redis.sock")
            return value
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError(
                "must be redis://[user:password@]host[:port][/db], rediss://… or unix:///path"
            )
        try:
            parts.port  # noqa: B018 - a port that is no number raises ValueError here, at start
        except ValueError:
            raise ValueError("must have a port number from 0 to 65535") from None
        if not re.fullmatch(r"/?\d*", parts.path):
            raise ValueError("must name a database by its number (redis://host:6379/0)")
        return value

    @field_validator("mqtt_topic_root")
    @classmethod
    def _topic_root(cls, value: str) -> str:
        levels = value.split("/")
        if not value or value.startswith("$") or any(not level for level in levels):
            raise ValueError("must be topic levels like 'hub' or 'city/hub', without '$' first")
        if any(c in value for c in "+#\0"):
            raise ValueError("must hold no MQTT wildcard (+, #) or NUL")
        return value

    @field_validator(
        "schemas_path",
        "charters_path",
        "sources_path",
        "alert_rules_path",
        "thesaurus_path",
        "file_roots",
        mode="before",
    )
    @classmethod
    def _paths(cls, value: object) -> list[Path]:
        return _split_paths(value)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir / 'hub.db'}"

    @property
    def schema_dirs(self) -> list[Path]:
        """Territory schema folders first, then the bundled ones."""
        return [*self.schemas_path, PROJECT_ROOT / "schemas"]

    @property
    def charter_dirs(self) -> list[Path]:
        """Territory charter folders first, then the bundled ones."""
        return [*self.charters_path, PROJECT_ROOT / "charters"]

    @property
    def source_dirs(self) -> list[Path]:
        """Territory source folders first, then the bundled ones."""
        return [*self.sources_path, PROJECT_ROOT / "pipelines" / "sources"]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (call `get_settings.cache_clear()` after changing the env);
    SettingsError names each unusable variable and what it holds."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError(_described(exc)) from None


def _described(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        name = f"HUB_{str(error['loc'][0]).upper()}" if error["loc"] else "HUB_*"
        shown = _without_password(error.get("input"))
        lines.append(f"{name} {error['msg'].lower()}, got {shown!r}")
    return "; ".join(lines)


def masked(url: str) -> str:
    """A URL as the hub prints it: its password, if any, masked."""
    return str(_without_password(url))


def _without_password(value: object) -> object:
    """A URL with its password masked: a rejected setting is printed, its secret never."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.password is None:
        return value
    user, _, host = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}").geturl()


_HOST = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?\.?$"
)


_SWITCHES = frozenset({"true", "false", "yes", "no", "on", "off"})


def _host_or_network(word: str) -> bool:
    """Whether `word` is an address, a network, or a host name (whose last label is not a number,
    so `1` is none)."""
    if word.lower() in _SWITCHES:
        return False
    try:
        ipaddress.ip_network(word, strict=False)
        return True
    except ValueError:
        return bool(_HOST.match(word.lower()))
