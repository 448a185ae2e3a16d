"""Free ports for the servers that tests and benchmarks start (`bench.ports`): below the kernel's
ephemeral range, where no outgoing connection can take them between the pick and the server's
bind; a port another listener holds is passed over."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import ports  # noqa: E402
from bench.ports import free_port  # noqa: E402


def test_a_free_port_lies_below_the_ephemeral_range_and_can_be_bound() -> None:
    low = ports._ephemeral_range_start()
    for _ in range(50):
        port = free_port()
        assert low - ports.BAND <= port < low
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))


def test_ports_held_by_listeners_are_passed_over_and_a_full_band_falls_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low = ports._ephemeral_range_start()
    monkeypatch.setattr(ports, "BAND", 3)
    held = []
    try:
        for port in (low - 1, low - 2):
            if not _hold(port, held):
                pytest.skip(f"port {port} is in use here")
        assert {free_port() for _ in range(20)} == {low - 3}
        if not _hold(low - 3, held):
            pytest.skip(f"port {low - 3} is in use here")
        assert free_port() >= low  # none left in the band: a port the kernel gives
    finally:
        for server in held:
            server.close()


def _hold(port: int, held: list[socket.socket]) -> bool:
    server = socket.socket()
    try:
        server.bind(("127.0.0.1", port))
    except OSError:
        server.close()
        return False
    server.listen()
    held.append(server)
    return True
