"""hub.redaction: credentials out of urls, texts and log records, everything else byte-identical."""

from __future__ import annotations

import logging

import pytest

from hub.redaction import REDACTED, RedactingFilter, is_secret_param, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://user:pass@example.org/feed.csv", "https://example.org/feed.csv"),
        ("https://token@example.org:8443/a?x=1", "https://example.org:8443/a?x=1"),
        ("https://us%40r:p@ss:w@rd@example.org/", "https://example.org/"),  # '@' in a password
        (
            "https://example.org/f.csv?apikey=SEKRET&x=1",
            "https://example.org/f.csv?apikey=REDACTED&x=1",
        ),
        (
            "https://example.org/?API_KEY=a&Token=b&sig=c&code=d&session=e&q=air",
            "https://example.org/?API_KEY=REDACTED&Token=REDACTED&sig=REDACTED&code=REDACTED"
            "&session=REDACTED&q=air",
        ),
        (
            "https://example.org/?X-Amz-Security-Token=a&x_client_secret=b&my.password=c&passwd=d",
            "https://example.org/?X-Amz-Security-Token=REDACTED&x_client_secret=REDACTED"
            "&my.password=REDACTED&passwd=REDACTED",
        ),
        (
            "https://example.org/cb#access_token=SEKRET&state=3",
            "https://example.org/cb#access_token=REDACTED&state=3",
        ),
        # Everything else stays as written: encodings, empty values, odd separators, fragments.
        (
            "HTTPS://Example.ORG/a%20b/?q=%C3%A9t%C3%A9&flag&empty=&x=1#top",
            "HTTPS://Example.ORG/a%20b/?q=%C3%A9t%C3%A9&flag&empty=&x=1#top",
        ),
        ("https://example.org/path@v2/feed.csv", "https://example.org/path@v2/feed.csv"),
        ("file:///data/feed.csv", "file:///data/feed.csv"),
        ("/data/feeds/x.csv", "/data/feeds/x.csv"),
        ("", ""),
    ],
)
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def test_parameter_names_that_look_secret() -> None:
    for name in (
        "key",
        "ApiKey",
        "api%5Fkey",
        "auth",
        "signature",
        "SIG",
        "client_secret",
        "refresh_token",
        "subscription-key",
        "PASSWORD",
    ):
        assert is_secret_param(name), name
    for name in ("q", "x", "format", "station", "authority", "signed"):
        assert not is_secret_param(name), name


def test_redact_text_redacts_urls_and_known_secrets() -> None:
    text = (
        "FetchError: http://u:pw@h.example/f.csv?key=K1&x=1: HTTP 404; "
        "sent 'Bearer tok/en+1' then tok%2Fen%2B1, see <https://h.example/?token=T2>."
    )
    assert redact_text(text, ["tok/en+1", ""]) == (
        "FetchError: http://h.example/f.csv?key=REDACTED&x=1: HTTP 404; "
        f"sent 'Bearer {REDACTED}' then {REDACTED}, see <https://h.example/?token=REDACTED>."
    )


def test_a_secret_that_contains_another_is_replaced_whole() -> None:
    assert redact_text("abc-SEKRET-xyz", ["SEKRET", "abc-SEKRET-xyz"]) == REDACTED


def test_text_without_secrets_is_unchanged() -> None:
    text = "run 3 failed: no such file: /var/feeds/x.csv (see https://example.org/help?q=1)"
    assert redact_text(text, ["absent"]) == text


def test_the_logging_filter_redacts_formatted_messages(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("tests.redaction")
    logger.addFilter(RedactingFilter())
    try:
        with caplog.at_level(logging.DEBUG, logger="tests.redaction"):
            logger.info("HTTP Request: %s %s", "GET", "https://u:SEKRET@h.example/?apikey=SEKRET")
            logger.info("nothing %s here", "secret-free")
    finally:
        logger.filters.clear()
    assert [r.getMessage() for r in caplog.records] == [
        "HTTP Request: GET https://h.example/?apikey=REDACTED",
        "nothing secret-free here",
    ]
