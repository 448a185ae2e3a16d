"""Secrets kept in Prefect Secret blocks (`prefect:BLOCK`), read at fetch time under a real server;
the CLI's harvest summary shows none of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.blocks.system import Secret
from sqlalchemy import Engine
from test_credentials import KEY, TOKEN, Operator, serve, source_file
from typer.testing import CliRunner

from hub.cli import app
from hub.config import get_settings
from pipelines.credentials import CredentialError, read_secret, resolve_credentials
from pipelines.sources import load_source

pytestmark = pytest.mark.flows
runner = CliRunner()


@pytest.fixture
def operator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Operator]:
    monkeypatch.setenv("HUB_FETCH_ALLOW_PRIVATE", "127.0.0.1")  # the operator serves locally
    get_settings.cache_clear()
    yield from serve()


@pytest.fixture
def token_block() -> Iterator[str]:
    """The operator's token in a Prefect Secret block, removed afterwards."""
    Secret(value=TOKEN).save("atmo-token", overwrite=True)
    yield "atmo-token"
    Secret.delete("atmo-token")


def test_a_prefect_secret_block_is_read(
    token_block: str, operator: Operator, tmp_path: Path
) -> None:
    assert read_secret(f"prefect:{token_block}") == TOKEN
    source = load_source(
        source_file(
            tmp_path, f"{operator.url}/bearer/no2.csv", f"auth: {{bearer: prefect:{token_block}}}"
        )
    )
    assert resolve_credentials(source).headers == {"Authorization": f"Bearer {TOKEN}"}


def test_a_missing_block_names_the_source_file_and_the_block(tmp_path: Path) -> None:
    path = source_file(
        tmp_path,
        "https://api.example.org/no2.csv",
        "auth: {header: X-API-Key, secret: prefect:no-such-block}",
    )
    with pytest.raises(
        CredentialError,
        match="auth secret prefect:no-such-block: cannot load the Prefect Secret block",
    ) as caught:
        resolve_credentials(load_source(path))
    assert str(caught.value).startswith(f"{path.resolve()}: ")


def test_the_cli_harvests_with_a_block_and_prints_no_secret(
    engine: Engine,
    token_block: str,
    operator: Operator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ATMO_KEY", KEY)
    host = operator.url.removeprefix("http://")
    path = source_file(
        tmp_path,
        f"http://user:pass-SEKRET@{host}/query/no2.csv?apikey=SEKRET&x=1",
        "auth: {header: X-API-Key, secret: env:ATMO_KEY}",
    )
    harvested = runner.invoke(app, ["harvest", str(path)])
    assert harvested.exit_code == 0, harvested.output
    assert "atmo-private-no2" in harvested.output and "succeeded" in harvested.output

    bearer = source_file(
        tmp_path,
        f"{operator.url}/bearer/no2.csv?token=SEKRET",
        f"auth: {{bearer: prefect:{token_block}}}",
        source_id="atmo-bearer",
    )
    assert runner.invoke(app, ["harvest", str(bearer)]).exit_code == 0

    operator.status = 500
    monkeypatch.setenv("HUB_FETCH_RETRIES", "0")
    failed = runner.invoke(app, ["harvest", str(path)])
    assert failed.exit_code == 1
    assert f"http://{host}/query/no2.csv?apikey=REDACTED&x=1: HTTP 500" in failed.output
    for output in (harvested.output, failed.output):
        assert "SEKRET" not in output and "user:" not in output
