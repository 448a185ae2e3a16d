"""Charter days are the territory's days (HUB_TIMEZONE, Europe/Paris by default), not UTC's."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from test_charters import use_charter_folders, versioned

from hub import charterdays, charters
from hub.config import SettingsError, get_settings

# 23:30 UTC on New Year's Eve: already 00:30 on 1 January in Paris.
NEW_YEAR_IN_PARIS = datetime(2025, 12, 31, 23, 30, tzinfo=UTC)


@pytest.fixture
def three_versions(tmp_path, monkeypatch):
    """test-open 1.0 until 2025-12-31, 2.0 from 2026-01-01."""
    versioned(tmp_path)
    use_charter_folders(monkeypatch, tmp_path)


def test_a_charter_day_ends_at_midnight_in_paris_by_default(three_versions, monkeypatch):
    monkeypatch.delenv("HUB_TIMEZONE", raising=False)
    get_settings.cache_clear()
    assert charterdays.day_of(NEW_YEAR_IN_PARIS) == date(2026, 1, 1)
    assert charters.load_charter("test-open", NEW_YEAR_IN_PARIS).version == "2.0"
    ended = charters.charter_versions("test-open")[0]
    with pytest.raises(charters.CharterRefused, match="has expired"):
        charters.check_publication(
            ended, producer="test-producer", theme="air-quality", schema=None, on=NEW_YEAR_IN_PARIS
        )


def test_a_territory_may_count_its_days_in_another_zone(three_versions, monkeypatch):
    monkeypatch.setenv("HUB_TIMEZONE", "UTC")
    get_settings.cache_clear()
    assert charterdays.day_of(NEW_YEAR_IN_PARIS) == date(2025, 12, 31)
    assert charters.load_charter("test-open", NEW_YEAR_IN_PARIS).version == "1.0"


def test_today_is_the_territory_s_date(monkeypatch):
    monkeypatch.setenv("HUB_TIMEZONE", "Pacific/Kiritimati")  # UTC+14: never UTC's date at noon
    get_settings.cache_clear()
    ahead = charterdays.today()
    monkeypatch.setenv("HUB_TIMEZONE", "Pacific/Pago_Pago")  # UTC-11
    get_settings.cache_clear()
    assert (ahead - charterdays.today()).days in (1, 2)  # 25 hours apart: one or two dates


def test_an_unknown_time_zone_is_a_settings_error(monkeypatch):
    monkeypatch.setenv("HUB_TIMEZONE", "Europe/Atlantis")
    with pytest.raises(SettingsError, match="HUB_TIMEZONE"):
        get_settings.cache_clear()
        get_settings()
    get_settings.cache_clear()
