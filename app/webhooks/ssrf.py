"""Webhook targets: resolved, checked against the special-purpose address registries, pinned.

Every delivery resolves the host again, refuses it if any address it resolves to lies in a
block of the IANA IPv4 or IPv6 Special-Purpose Address Registry (or is multicast), and then
connects to the very address it checked: the request goes to the IP while the `Host` header
and the TLS server name stay the host's, so a DNS answer that changes between the check and the
connection (rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IANA IPv4 Special-Purpose Address Registry (RFC 6890 and its updates), every entry, plus
# multicast, which the registry leaves to its own table. Refused whole: none of these is a
# place a CRM or a shop's backend receives webhooks.
SPECIAL_IPV4 = (
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private use"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT, cloud metadata)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link local"),
    ("172.16.0.0/12", "private use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
)

# IANA IPv6 Special-Purpose Address Registry, every entry, plus multicast and the deprecated
# site-local block. Transition prefixes (IPv4-mapped, NAT64, 6to4, Teredo) are refused whole:
# they can carry any IPv4 address, internal ones included.
SPECIAL_IPV6 = (
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("::/96", "deprecated IPv4-compatible"),
    ("64:ff9b::/96", "IPv4-IPv6 translation (NAT64)"),
    ("64:ff9b:1::/48", "local-use IPv4-IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, ORCHID, AMT, benchmarking ...)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique local"),
    ("fe80::/10", "link-local unicast"),
    ("fec0::/10", "deprecated site-local"),
    ("ff00::/8", "multicast"),
)

_BLOCKS = tuple((ipaddress.ip_network(net), name) for net, name in (*SPECIAL_IPV4, *SPECIAL_IPV6))


class UnsafeTarget(ValueError):
    pass


def special_purpose(address: str) -> str | None:
    """The registry entry an address belongs to, or None for an ordinary public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    for network, name in _BLOCKS:
        if ip.version == network.version and ip in network:
            return f"{network} ({name})"
    return None


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


# The resolver every check uses; tests put a fake DNS here to play a rebinding attack.
resolver: Resolver = system_resolver


@dataclass(frozen=True)
class Target:
    """Where to connect for one delivery: the URL with the checked IP in place of the host."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)
    address: str = ""


def _parts(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeTarget("the URL must be http(s) with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeTarget("the URL has an invalid port") from exc
    return parts.scheme, parts.hostname, port


async def resolve(url: str, allow_private: bool) -> Target:
    """Resolve the URL's host, check every address, and pin the first one.

    Raises UnsafeTarget when the host does not resolve or, unless `allow_private`, when any of
    its addresses is special-purpose (one bad address is enough: a client may pick any).
    """
    _, host, port = _parts(url)
    try:
        addresses = await resolver(host, port)
    except OSError as exc:
        raise UnsafeTarget(f"the host {host!r} does not resolve") from exc
    if not addresses:
        raise UnsafeTarget(f"the host {host!r} does not resolve")
    if not allow_private:
        bad = [f"{a} in {block}" for a in addresses if (block := special_purpose(a))]
        if bad:
            raise UnsafeTarget(f"{host} resolves to internal address(es): {'; '.join(bad)}")
    return pin(url, addresses[0])


def pin(url: str, address: str) -> Target:
    """The request for `url` sent to `address`, keeping the Host header and TLS server name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        is_literal = True
    except ValueError:
        is_literal = False
    if is_literal:
        return Target(url=url, address=address)
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    pinned = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Target(url=pinned, headers={"Host": host_header}, extensions=extensions, address=address)


async def check(url: str, allow_private: bool) -> None:
    """Raise UnsafeTarget unless the URL may be called (the check at creation)."""
    await resolve(url, allow_private)


def origin(url: str) -> str:
    """scheme://host[:port] alone: what may be shown of a URL whose path or query is secret."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
