"""The API server's own log, read from real servers: `hub serve` and plain uvicorn."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from flows.processes import answers, child_env, end, free_port, wait_for

from hub.serverlog import AccessRedactor, redact_target

HUB = Path(sys.executable).with_name("hub")
START_WAIT = 120.0  # a readiness guard, not a timing assertion
TOKEN_ID = "0123456789abcdef"
SECRET = "S3cretS3cretS3cretS3cretS3cretS3cretS3cret"  # 43 characters, as a token's secret
TOKEN = f"hub.{TOKEN_ID}.{SECRET}"
ESCAPED = f"hub%2E{TOKEN_ID}%2E{SECRET}"  # the same token, its dots percent-escaped


@contextlib.contextmanager
def server(tmp_path: Path, command: list[str], **settings: str) -> Iterator[tuple[str, Path]]:
    """A real API server on a free port (its URL, and the file its output goes to); SIGTERM at
    the end of the block, as a service manager stops it."""
    port = free_port()
    env = child_env(
        **{
            "HUB_DATA_DIR": str(tmp_path / "var"),
            "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            # Named, so `hub serve` starts no Prefect server of its own; never called.
            "PREFECT_API_URL": f"http://127.0.0.1:{free_port()}/api",
            **settings,  # a test's own store (its engine's) among them
        }
    )
    output = tmp_path / "server.log"
    with output.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: answers(f"{url}/healthz"), START_WAIT, "the API", process)
        yield url, output
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    finally:
        end(process)


SERVERS = {
    "hub serve": [str(HUB), "serve"],
    "uvicorn": [sys.executable, "-m", "uvicorn", "--factory", "hub.app:create_app"],
}


@pytest.mark.parametrize("name", SERVERS)
def test_a_token_in_a_query_string_is_refused_and_kept_out_of_the_access_log(tmp_path, name):
    with server(tmp_path, SERVERS[name]) as (url, output):
        refused = httpx.get(f"{url}/api/v1/access-log?access_token={TOKEN}", trust_env=False)
        assert refused.status_code == 400
        httpx.get(f"{url}/api/v1/datasets?q=air&apikey=plain-secret-value", trust_env=False)
        httpx.get(f"{url}/api/v1/datasets/{TOKEN}", trust_env=False)  # a token pasted anywhere
        httpx.get(f"{url}/api/v1/datasets?q={ESCAPED}", trust_env=False)
    logged = output.read_text(encoding="utf-8")
    assert SECRET not in logged and "plain-secret-value" not in logged, logged
    assert '"GET /api/v1/access-log?access_token=REDACTED HTTP/1.1" 400' in logged
    assert "/api/v1/datasets?q=air&apikey=REDACTED HTTP/1.1" in logged
    assert f"/api/v1/datasets?q=hub%2E{TOKEN_ID}%2EREDACTED HTTP/1.1" in logged


@pytest.mark.parametrize(
    ("target", "redacted"),
    [
        ("/api/v1/records?limit=5&token=abc", "/api/v1/records?limit=5&token=REDACTED"),
        ("/api/3/action/x?id=1&api_key=abc", "/api/3/action/x?id=1&api_key=REDACTED"),
        ("/a?Authorization=Bearer%20abc&bearer=abc", "/a?Authorization=REDACTED&bearer=REDACTED"),
        ("/a?access%5Ftoken=abc", "/a?access%5Ftoken=REDACTED"),
        (f"/a?q={TOKEN}", f"/a?q=hub.{TOKEN_ID}.REDACTED"),
        (f"/a?q={ESCAPED}&limit=2", f"/a?q=hub%2E{TOKEN_ID}%2EREDACTED&limit=2"),
        (f"/a?q=hub%2e{TOKEN_ID}%2e{SECRET}", f"/a?q=hub%2e{TOKEN_ID}%2eREDACTED"),
        (f"/a/hub%252E{TOKEN_ID}%252E{SECRET}", f"/a/hub%252E{TOKEN_ID}%252EREDACTED"),
        (f"/a?q=%68ub.{TOKEN_ID}.%53{SECRET[1:]}", f"/a?q=%68ub.{TOKEN_ID}.REDACTED"),
        ("/a?q=100%25+hub%2Eshort", "/a?q=100%25+hub%2Eshort"),
        ("/api/v1/datasets?q=token+bucket&limit=2", "/api/v1/datasets?q=token+bucket&limit=2"),
    ],
)  # fmt: skip
def test_request_targets_lose_credentials_and_keep_the_rest(target, redacted):
    assert redact_target(target) == redacted


def test_the_redactor_rewrites_uvicorns_access_record_and_keeps_it():
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", f"/x?access_token={TOKEN}", "1.1", 400), None,
    )  # fmt: skip
    assert AccessRedactor().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /x?access_token=REDACTED HTTP/1.1" 400'


def test_hub_serve_writes_a_time_and_a_level_on_every_line_of_its_log(tmp_path):
    with server(tmp_path, SERVERS["hub serve"]) as (url, output):
        httpx.get(f"{url}/healthz", trust_env=False)
    lines = output.read_text(encoding="utf-8").splitlines()
    served = [line for line in lines if "uvicorn" in line]  # the CLI's own lines go before
    assert any("Started server process" in line for line in served), lines
    assert any('"GET /healthz HTTP/1.1" 200' in line for line in served), lines
    stamped = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (INFO|WARNING|ERROR) uvicorn")
    assert all(stamped.match(line) for line in served), served


def test_a_download_cut_by_the_server_s_stop_is_incomplete_and_logged_at_info(
    engine, database_url, tmp_path
):
    """The client sees the cut (no final chunk), the log says it at INFO without a traceback."""
    from test_interrupted_harvest import DATASET, generate, source_file

    from pipelines.harvesting import harvest_source
    from pipelines.sources import load_source

    feed = tmp_path / "air.csv"
    generate(feed, 80_000)  # 7 MB: more than the server's socket buffer holds (4 MB at most)
    harvested = harvest_source(load_source(source_file(tmp_path, "air", feed)))
    assert harvested.published > 70_000, harvested
    # the server reads the store the harvest wrote (PostgreSQL's schema when the suite runs there)
    with server(tmp_path, SERVERS["hub serve"], HUB_DATABASE_URL=database_url) as (url, output):
        host, port = url.removeprefix("http://").split(":")
        with socket.socket() as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # a slow reader's
            client.connect((host, int(port)))
            client.sendall(
                f"GET /api/v1/datasets/{DATASET}/records?format=csv HTTP/1.1\r\n"
                f"Host: {host}\r\nAccept-Encoding: identity\r\n\r\n".encode()
            )
            received = [client.recv(4096)]
            assert received[0].startswith(b"HTTP/1.1 200"), received
            pid = int(re.findall(r"Started server process \[(\d+)\]", output.read_text())[0])
            os.kill(pid, signal.SIGTERM)
            wait_for(lambda: "Shutting down" in output.read_text(), START_WAIT, "the stop")
            while part := client.recv(65536):
                received.append(part)
    body = b"".join(received)
    assert b"transfer-encoding: chunked" in body.split(b"\r\n\r\n")[0].lower()
    assert not body.endswith(b"\r\n0\r\n\r\n"), "the cut download ends as a whole one"
    logged = output.read_text(encoding="utf-8")
    assert "cut short by the server's stop" in logged, logged
    assert "Exception in ASGI application" not in logged and "Traceback" not in logged, logged
    assert " ERROR " not in logged, logged
