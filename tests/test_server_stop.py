"""A real server stopped while feed streams are open: each gets the feed's closing message at
once and ends cleanly, and the server's log holds no error."""

from __future__ import annotations

import threading

import httpx
import pytest
from flows.processes import wait_for
from test_server_log import SERVERS, server

STREAMS = 12
READ_WAIT = 60.0  # a guard against a hung stream, not a timing assertion


class Reader(threading.Thread):
    """One open feed stream, its lines kept as they come."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.lines: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        timeout = httpx.Timeout(10.0, read=READ_WAIT)
        try:
            with httpx.stream("GET", f"{self.url}/api/v1/feeds/stream", timeout=timeout,
                              trust_env=False) as answer:  # fmt: skip
                self.lines.extend(answer.iter_lines())  # appended as they come, until it ends
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.error = exc


@pytest.mark.parametrize("name", SERVERS)
def test_open_streams_get_the_closing_message_when_the_server_stops(tmp_path, name):
    with server(tmp_path, SERVERS[name]) as (url, output):
        readers = [Reader(url) for _ in range(STREAMS)]
        for reader in readers:
            reader.start()
        wait_for(lambda: all(": hub feed" in r.lines for r in readers), READ_WAIT, "streams open")
    for reader in readers:
        reader.join(READ_WAIT)
        assert not reader.is_alive() and reader.error is None, reader.error
        assert "event: closed" in reader.lines, reader.lines
        (data,) = [line for line in reader.lines if line.startswith("data: ")]
        assert '"reason":"the server is shutting down"' in data
    logged = output.read_text(encoding="utf-8")
    assert "Traceback" not in logged and "ERROR" not in logged, logged
    assert "timeout graceful shutdown exceeded" not in logged
