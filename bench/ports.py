"""Loopback ports for the servers that benchmarks and tests start (no import of the hub: the
tests' process helpers take it from here too)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
BAND = 10_000  # ports below the ephemeral range that free_port picks from


def free_port() -> int:
    """A loopback port free right now, below the kernel's ephemeral range.

    A port that bind(0) hands out comes from the range that outgoing connections draw their
    local ports from: until the server binds it, any process's connection (the suite's
    PostgreSQL and Redis clients, on three workers) may take it, and a `hub serve` replica once
    exited on "address already in use" so. Below the range, only another listener can."""
    low = _ephemeral_range_start()
    band = min(BAND, low - 1024)  # never a privileged port
    for _ in range(100 if band > 0 else 0):
        port = low - 1 - secrets.randbelow(band)  # not `random`: tests may seed it alike
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # that band all taken: any port the kernel gives
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _ephemeral_range_start() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default
