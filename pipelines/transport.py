"""The connections an http(s) fetch makes: to public addresses only, and never past a deadline.

Why the address check lives in the connection itself: checking a host in a request hook and then
letting httpcore resolve it again would let a DNS answer change in between (DNS rebinding). Here
the network backend resolves the host once, checks every address it has, and connects to a
checked address; TLS still verifies the certificate against the host name. Every connection goes
through it, so every redirect hop to a new origin is checked too.

A fetch may reach a loopback, private, link-local, CGNAT, multicast or reserved address only when
`HUB_FETCH_ALLOW_PRIVATE` lists its host, or a network that holds the address.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from ssl import SSLContext

import httpcore
import httpx

log = logging.getLogger(__name__)

IPAddress = IPv4Address | IPv6Address
CGNAT = ip_network("100.64.0.0/10")  # carrier-grade NAT: not global, yet not "private" to Python
NAT64 = ip_network("64:ff9b::/96")  # the well-known NAT64 prefix embeds an IPv4 address
RULE = "a fetch may reach it only if HUB_FETCH_ALLOW_PRIVATE lists the host or its network"


class AddressRefused(RuntimeError):
    """A host that resolves to an address a fetch may not reach."""


@dataclass(frozen=True)
class Allowance:
    """The hosts and networks a fetch may reach although they are not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[IPv4Network | IPv6Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowance:
        """An allowance from `HUB_FETCH_ALLOW_PRIVATE` words: host names, addresses or CIDRs."""
        hosts: set[str] = set()
        networks: list[IPv4Network | IPv6Network] = []
        for entry in entries:
            try:
                networks.append(ip_network(entry, strict=False))
            except ValueError:
                if "/" in entry:
                    log.warning("HUB_FETCH_ALLOW_PRIVATE: %r is not a network; ignored", entry)
                    continue
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows(self, host: str, address: IPAddress) -> bool:
        """Whether `address` (of `host`) is listed, by host name or by network."""
        if host.lower().rstrip(".") in self.hosts:
            return True
        embedded = _embedded_ipv4(address)
        candidates = [address] if embedded is None else [address, embedded]
        return any(
            a in net for a in candidates for net in self.networks if a.version == net.version
        )


def refusal_kind(address: IPAddress) -> str | None:
    """What makes `address` unreachable to a fetch (loopback, private …), or None if public."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:  # ::ffff:10.0.0.1 and the like reach the IPv4 address inside
        return refusal_kind(embedded)
    checks = (
        ("unspecified", address.is_unspecified), ("loopback", address.is_loopback),
        ("link-local", address.is_link_local), ("multicast", address.is_multicast),
        ("shared (CGNAT)", address in CGNAT), ("reserved", address.is_reserved),
        ("private", address.is_private),
    )  # fmt: skip
    for kind, matches in checks:
        if matches:
            return kind
    return None if address.is_global else "non-public"


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, NAT64, Teredo), if any."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped or address.sixtofour:
        return address.ipv4_mapped or address.sixtofour
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return address.teredo[1] if address.teredo else None


def checked_addresses(host: str, port: int, allowance: Allowance) -> list[str]:
    """Every address of `host`, refused as a whole if any of them may not be reached."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve host {host!r} ({exc})") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
    for text in addresses:
        address = ip_address(text.partition("%")[0])  # drop an IPv6 zone: fe80::1%eth0
        kind = refusal_kind(address)
        if kind is not None and not allowance.allows(host, address):
            # The address itself is not named: a run error is public, the hub's network is not.
            said = "is" if host == text else "resolves to"
            raise AddressRefused(f"refused: {host} {said} a {kind} address; {RULE}")
    return addresses


@dataclass
class Deadline:
    """A point in time a whole fetch (retries included) must be done by."""

    seconds: float
    at: float = field(init=False)

    def __post_init__(self) -> None:
        self.at = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def bound(self, timeout: float | None, error: type[Exception]) -> float:
        """`timeout` shortened to what is left, or `error` if nothing is."""
        left = self.remaining()
        if left <= 0:
            raise error(f"the {self.seconds:g} s deadline has passed")
        return left if timeout is None else min(timeout, left)


class _BoundedStream(httpcore.NetworkStream):
    """A connection whose every read, write and handshake ends by the deadline."""

    def __init__(self, stream: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # A trickling server answers every read in time: only the deadline stops it.
        return self._stream.read(max_bytes, self._deadline.bound(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, self._deadline.bound(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
        return _BoundedStream(
            self._stream.start_tls(ssl_context, server_hostname, bounded), self._deadline
        )

    def get_extra_info(self, info: str) -> object:
        return self._stream.get_extra_info(info)


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to checked addresses, within the deadline."""

    def __init__(self, allowance: Allowance, deadline: Deadline) -> None:
        self._allowance = allowance
        self._deadline = deadline

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        failure: httpcore.ConnectError | None = None
        for address in checked_addresses(host, port, self._allowance):
            bounded = self._deadline.bound(timeout, httpcore.ConnectTimeout)
            try:
                stream = super().connect_tcp(address, port, bounded, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the host's next address
                failure = exc
                continue
            return _BoundedStream(stream, self._deadline)
        raise failure or httpcore.ConnectError(f"no address for host {host!r}")


def guarded_transport(allowance: Allowance, deadline: Deadline) -> httpx.HTTPTransport:
    """An httpx transport that connects only where `allowance` lets it, until `deadline`."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx takes no network backend: give its pool, all that handle_request uses, one that has.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),  # SSL_CERT_FILE / SSL_CERT_DIR still apply
        network_backend=_GuardedBackend(allowance, deadline),
    )
    return transport
