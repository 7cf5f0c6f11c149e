"""The address rule of webhook targets (pure but for the resolver): every address a host
resolves to must be public, unless private targets are allowed, and the request goes to the
address checked.

Literal addresses and `localhost` resolve without a DNS server; names that need one are
answered by a stand-in put in `ssrf.resolver`, since this machine reaches no DNS server. The
system resolver itself is checked against a stand-in `getaddrinfo`."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.webhooks import ssrf
from app.webhooks.ssrf import Target, UnsafeTarget, check, origin, pin, resolve, special_purpose

RESERVED = "reserved by IETF, outside global unicast 2000::/3"

# One address in every block, the exact entry named (the first that matches).
SPECIAL = [
    ("0.1.2.3", "0.0.0.0/8 (this network)"),
    ("10.1.2.3", "10.0.0.0/8 (private use)"),
    ("100.64.0.0", "100.64.0.0/10 (shared address space (carrier-grade NAT, cloud metadata))"),
    ("100.127.255.255", "100.64.0.0/10 (shared address space (carrier-grade NAT, cloud metadata))"),
    ("127.8.9.10", "127.0.0.0/8 (loopback)"),
    ("169.254.169.254", "169.254.0.0/16 (link local)"),
    ("172.31.255.255", "172.16.0.0/12 (private use)"),
    ("192.0.0.170", "192.0.0.0/24 (IETF protocol assignments)"),
    ("192.0.2.1", "192.0.2.0/24 (documentation (TEST-NET-1))"),
    ("192.31.196.1", "192.31.196.0/24 (AS112-v4)"),
    ("192.52.193.1", "192.52.193.0/24 (AMT)"),
    ("192.88.99.1", "192.88.99.0/24 (deprecated 6to4 relay anycast)"),
    ("192.168.1.1", "192.168.0.0/16 (private use)"),
    ("192.175.48.1", "192.175.48.0/24 (direct delegation AS112 service)"),
    ("198.19.255.255", "198.18.0.0/15 (benchmarking)"),
    ("198.51.100.7", "198.51.100.0/24 (documentation (TEST-NET-2))"),
    ("203.0.113.9", "203.0.113.0/24 (documentation (TEST-NET-3))"),
    ("224.0.0.1", "224.0.0.0/4 (multicast)"),
    ("240.0.0.1", "240.0.0.0/4 (reserved)"),
    ("255.255.255.255", "255.255.255.255/32 (limited broadcast)"),
    ("::", "::/128 (unspecified)"),
    ("::1", "::1/128 (loopback)"),
    ("::ffff:8.8.8.8", "::ffff:0:0/96 (IPv4-mapped)"),
    ("::10.0.0.1", "::/96 (deprecated IPv4-compatible)"),
    ("64:ff9b::7f00:1", "64:ff9b::/96 (IPv4-IPv6 translation (NAT64))"),
    ("64:ff9b:1::1", "64:ff9b:1::/48 (local-use IPv4-IPv6 translation)"),
    ("100::1", "100::/64 (discard-only)"),
    ("100:0:0:1::1", "100:0:0:1::/64 (dummy IPv6 prefix)"),
    (
        "2001::1",
        "2001::/23 (IETF protocol assignments (Teredo, ORCHID, AMT, benchmarking ...))",
    ),
    ("2001:db8::1", "2001:db8::/32 (documentation)"),
    ("2002:7f00:1::1", "2002::/16 (6to4)"),
    ("2620:4f:8000::1", "2620:4f:8000::/48 (direct delegation AS112 service)"),
    ("3fff::1", "3fff::/20 (documentation)"),
    ("5f00::1", "5f00::/16 (segment routing (SRv6) SIDs)"),
    ("fd12:3456::1", "fc00::/7 (unique local)"),
    ("fe80::1", "fe80::/10 (link-local unicast)"),
    ("fe80::1%eth0", "fe80::/10 (link-local unicast)"),  # a zone index is not an escape
    ("fec0::1", "fec0::/10 (deprecated site-local)"),
    ("ff02::1", "ff00::/8 (multicast)"),
    # Outside 2000::/3 and outside the blocks above: reserved, though not "private".
    ("1::1", f"::/3 ({RESERVED})"),
    ("1fff:ffff::1", f"::/3 ({RESERVED})"),
    ("4000::1", f"4000::/2 ({RESERVED})"),
    ("8000::1", f"8000::/1 ({RESERVED})"),
    ("fa00::1", f"8000::/1 ({RESERVED})"),
]

# The neighbours of the blocks, and ordinary public addresses.
PUBLIC = [
    "1.1.1.1",
    "8.8.8.8",
    "93.184.216.34",
    "100.63.255.255",
    "100.128.0.0",
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.1",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",
    "2000::1",
    "2001:200::1",
    "2001:db9::1",
    "2606:4700::1111",
    "2606:4700::1111%eth0",
    "3fff:1000::1",
    "3ffe:ffff::1",
    "2a00::1",
]

# Literal hosts, as written in a URL, and the exact refusal.
INTERNAL_LITERALS = [
    ("10.1.2.3", "10.0.0.0/8 (private use)"),
    ("172.16.0.1", "172.16.0.0/12 (private use)"),
    ("192.168.1.1", "192.168.0.0/16 (private use)"),
    ("127.0.0.1", "127.0.0.0/8 (loopback)"),
    ("127.8.9.10", "127.0.0.0/8 (loopback)"),
    ("169.254.169.254", "169.254.0.0/16 (link local)"),  # cloud metadata
    (
        "100.100.100.200",  # cloud metadata inside the shared address space
        "100.64.0.0/10 (shared address space (carrier-grade NAT, cloud metadata))",
    ),
    ("224.0.0.1", "224.0.0.0/4 (multicast)"),
    ("240.0.0.1", "240.0.0.0/4 (reserved)"),
    ("0.0.0.0", "0.0.0.0/8 (this network)"),
    ("[::1]", "::1/128 (loopback)"),
    ("[fe80::1]", "fe80::/10 (link-local unicast)"),
    ("[fc00::1]", "fc00::/7 (unique local)"),
    ("[::]", "::/128 (unspecified)"),
    ("[::ffff:127.0.0.1]", "::ffff:0:0/96 (IPv4-mapped)"),
    ("[4000::1]", f"4000::/2 ({RESERVED})"),
]


class FakeDNS:
    """Names in `answers` resolve to their addresses (an OSError: fails); any other host goes
    to the system resolver. Every call is recorded."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str] | OSError] = {}
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answer = self.answers.get(host)
        if answer is None:
            return await ssrf.system_resolver(host, port)
        if isinstance(answer, OSError):
            raise answer
        return list(answer)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDNS]:
    assert ssrf.resolver is ssrf.system_resolver  # what every check uses unless a test swaps it
    fake = FakeDNS()
    monkeypatch.setattr(ssrf, "resolver", fake)
    yield fake


@pytest.mark.parametrize(("address", "entry"), SPECIAL)
def test_special_purpose_addresses_name_their_entry(address: str, entry: str) -> None:
    assert special_purpose(address) == entry


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_not_special(address: str) -> None:
    assert special_purpose(address) is None


@pytest.mark.parametrize(("address", "entry"), INTERNAL_LITERALS)
async def test_internal_literals_are_refused(address: str, entry: str) -> None:
    url = f"https://{address}:8443/hook"
    bare = address.strip("[]")
    with pytest.raises(UnsafeTarget) as refused:
        await check(url, allow_private=False)
    assert str(refused.value) == f"{bare} resolves to internal address(es): {bare} in {entry}"
    await check(url, allow_private=True)
    # A literal is not rewritten: the URL already names the address checked.
    assert await resolve(url, allow_private=True) == Target(url=url, address=bare)


async def test_a_public_literal_is_accepted_as_it_is() -> None:
    await check("https://93.184.216.34/hook", allow_private=False)
    assert await resolve("http://[2606:4700::1111]/hook", allow_private=False) == Target(
        url="http://[2606:4700::1111]/hook", address="2606:4700::1111"
    )


async def test_localhost_is_refused_by_name() -> None:
    with pytest.raises(UnsafeTarget) as refused:
        await check("http://localhost:9000/", allow_private=False)
    prefix = "localhost resolves to internal address(es): "
    message = str(refused.value)
    assert message.startswith(prefix)
    found = message.removeprefix(prefix).split("; ")
    addresses = await ssrf.system_resolver("localhost", 9000)
    assert found == [f"{a} in {special_purpose(a)}" for a in addresses]
    assert set(found) <= {"127.0.0.1 in 127.0.0.0/8 (loopback)", "::1 in ::1/128 (loopback)"}


@pytest.mark.parametrize(
    "url",
    ["ftp://93.184.216.34/", "file:///etc/passwd", "http://", "https:///x", "93.184.216.34"],
)
async def test_only_http_urls_with_a_host(url: str, dns: FakeDNS) -> None:
    for allow in (False, True):
        with pytest.raises(UnsafeTarget, match=r"^the URL must be http\(s\) with a host$"):
            await check(url, allow_private=allow)
    assert dns.calls == []


@pytest.mark.parametrize("url", ["http://hooks.example:99999/", "http://hooks.example:port/"])
async def test_an_invalid_port_is_refused(url: str, dns: FakeDNS) -> None:
    dns.answers["hooks.example"] = ["93.184.216.34"]
    for allow in (False, True):
        with pytest.raises(UnsafeTarget, match=r"^the URL has an invalid port$") as refused:
            await check(url, allow_private=allow)
        assert isinstance(refused.value.__cause__, ValueError)
    assert dns.calls == []


async def test_every_address_of_the_host_must_be_public(dns: FakeDNS) -> None:
    dns.answers["mixed.example"] = ["93.184.216.34", "10.0.0.7", "127.0.0.2"]
    dns.answers["public.example"] = ["93.184.216.34", "2606:4700::1111"]
    with pytest.raises(UnsafeTarget) as refused:
        await check("https://mixed.example/hook", allow_private=False)
    assert str(refused.value) == (
        "mixed.example resolves to internal address(es): "
        "10.0.0.7 in 10.0.0.0/8 (private use); 127.0.0.2 in 127.0.0.0/8 (loopback)"
    )
    await check("https://public.example/hook", allow_private=False)


async def test_the_resolver_is_asked_for_the_port_the_url_will_use(dns: FakeDNS) -> None:
    dns.answers["public.example"] = ["93.184.216.34"]
    for url in (
        "https://public.example/x",
        "http://public.example/x",
        "http://public.example:8080/x",
        "https://public.example:80/x",
    ):
        await check(url, allow_private=False)
    assert dns.calls == [
        ("public.example", 443),
        ("public.example", 80),
        ("public.example", 8080),
        ("public.example", 80),
    ]


async def test_an_unresolvable_host_is_refused_even_where_private_targets_are_allowed(
    dns: FakeDNS,
) -> None:
    """A target is always resolved (the connection goes to the address found), so a host
    that does not resolve is refused whether private targets are allowed or not."""
    dns.answers["gone.example"] = socket.gaierror(socket.EAI_NONAME, "not known")
    dns.answers["empty.example"] = []
    for allow in (False, True):
        with pytest.raises(UnsafeTarget, match=r"^the host 'gone.example' does not resolve$") as e:
            await check("https://gone.example/", allow_private=allow)
        assert isinstance(e.value.__cause__, socket.gaierror)
        with pytest.raises(UnsafeTarget, match=r"^the host 'empty.example' does not resolve$"):
            await check("https://empty.example/", allow_private=allow)
    assert dns.calls == [("gone.example", 443), ("empty.example", 443)] * 2


async def test_allowed_private_targets_are_resolved_and_pinned_but_not_refused(
    dns: FakeDNS,
) -> None:
    dns.answers["internal.example"] = ["10.0.0.7", "93.184.216.34"]
    target = await resolve("https://internal.example:8443/hook?t=1", allow_private=True)
    assert target == Target(
        url="https://10.0.0.7:8443/hook?t=1",
        headers={"Host": "internal.example:8443"},
        extensions={"sni_hostname": "internal.example"},
        address="10.0.0.7",
    )
    assert dns.calls == [("internal.example", 8443)]


async def test_the_first_address_is_pinned(dns: FakeDNS) -> None:
    dns.answers["dual.example"] = ["2606:4700::1111", "93.184.216.34"]
    assert await resolve("http://dual.example/x?y=1#z", allow_private=False) == Target(
        url="http://[2606:4700::1111]/x?y=1#z",
        headers={"Host": "dual.example"},
        extensions={},
        address="2606:4700::1111",
    )


def test_pinning_keeps_the_host_for_the_header_and_the_tls_server_name() -> None:
    assert pin("https://Hooks.Example/a/b?c=d#e", "93.184.216.34") == Target(
        url="https://93.184.216.34/a/b?c=d#e",
        headers={"Host": "hooks.example"},
        extensions={"sni_hostname": "hooks.example"},
        address="93.184.216.34",
    )
    assert pin("http://hooks.example:8080/x", "2606:4700::1111") == Target(
        url="http://[2606:4700::1111]:8080/x",
        headers={"Host": "hooks.example:8080"},
        extensions={},
        address="2606:4700::1111",
    )
    # Credentials in the URL stay in it (the client turns them into Basic auth), not in Host.
    assert pin("https://user:p%40ss@hooks.example/x", "93.184.216.34") == Target(
        url="https://user:p%40ss@93.184.216.34/x",
        headers={"Host": "hooks.example"},
        extensions={"sni_hostname": "hooks.example"},
        address="93.184.216.34",
    )
    # A literal host is the address: nothing to rewrite, no Host header of a name to keep.
    assert pin("https://93.184.216.34:8443/x", "93.184.216.34") == Target(
        url="https://93.184.216.34:8443/x", address="93.184.216.34"
    )
    assert pin("https://[2606:4700::1111]/x", "2606:4700::1111") == Target(
        url="https://[2606:4700::1111]/x", address="2606:4700::1111"
    )
    assert Target(url="u") == Target(url="u", headers={}, extensions={}, address="")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://portal.example/rest/1/w3bh00kc0de/", "https://portal.example"),
        ("http://Hooks.Example:8080/hook?token=s3cr3t", "http://hooks.example:8080"),
        ("http://[::1]:9000/x", "http://[::1]:9000"),
        ("https://[2606:4700::1111]/x", "https://[2606:4700::1111]"),
        ("http://hooks.example:99999/x", "http://hooks.example"),  # an invalid port is left out
    ],
)
def test_the_origin_shows_no_path_or_query(url: str, expected: str) -> None:
    assert origin(url) == expected


@pytest.fixture
async def getaddrinfo(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """The event loop's getaddrinfo answering from `answers` (an OSError: fails)."""
    state: dict[str, Any] = {"answers": {}, "calls": []}
    loop = asyncio.get_running_loop()

    async def fake(host: str, port: int, **kw: Any) -> Any:
        state["calls"].append((host, port, kw))
        answer = state["answers"][host]
        if isinstance(answer, OSError):
            raise answer
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, port, 0, 0) if ":" in a else (a, port),
            )
            for a in answer
        ]

    monkeypatch.setattr(loop, "getaddrinfo", fake)
    yield state


async def test_the_system_resolver_asks_for_stream_sockets_and_answers_each_address_once(
    getaddrinfo: dict[str, Any],
) -> None:
    getaddrinfo["answers"]["multi.example"] = [
        "93.184.216.34",
        "2606:4700::1111",
        "93.184.216.34",
        "1.1.1.1",
    ]
    addresses = await ssrf.system_resolver("multi.example", 8443)
    assert addresses == ["93.184.216.34", "2606:4700::1111", "1.1.1.1"]
    assert getaddrinfo["calls"] == [("multi.example", 8443, {"type": socket.SOCK_STREAM})]
    getaddrinfo["answers"]["gone.example"] = socket.gaierror(socket.EAI_NONAME, "not known")
    with pytest.raises(socket.gaierror):
        await ssrf.system_resolver("gone.example", 443)
