"""The address rule of webhook targets (pure but for the resolver): every address a host
resolves to must be public, unless private targets are allowed.

Literal addresses and `localhost` resolve without a DNS server; names that need one are
answered by a stand-in resolver, since this machine reaches no DNS server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.webhooks.ssrf import UnsafeTarget, check

INTERNAL = [
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "127.8.9.10",
    "169.254.169.254",  # link-local: cloud metadata
    "224.0.0.1",  # multicast
    "240.0.0.1",  # reserved
    "0.0.0.0",
    "[::1]",
    "[fe80::1]",
    "[fc00::1]",
    "[::]",
    "[4000::1]",  # reserved, though not "private"
]


@pytest.fixture
async def resolver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    """Names in `answers` resolve to their addresses (an OSError: fails); any other host goes
    to the system resolver. Every call is recorded."""
    state: dict[str, Any] = {"answers": {}, "calls": []}
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: int, **kw: Any) -> Any:
        state["calls"].append((host, port, kw))
        answer = state["answers"].get(host)
        if answer is None:
            return await real(host, port, **kw)
        if isinstance(answer, OSError):
            raise answer
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answer
        ]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    yield state


@pytest.mark.parametrize("address", INTERNAL)
async def test_internal_literals_are_refused(address: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        await check(f"https://{address}:8443/hook", allow_private=False)
    bare = address.strip("[]")
    assert str(refused.value) == f"{bare} resolves to internal address(es) {bare}"
    await check(f"https://{address}:8443/hook", allow_private=True)


async def test_a_public_literal_is_accepted() -> None:
    await check("https://93.184.216.34/hook", allow_private=False)
    await check("http://[2606:4700::1111]/hook", allow_private=False)


async def test_localhost_is_refused_by_name() -> None:
    with pytest.raises(UnsafeTarget, match=r"^localhost resolves to internal address\(es\) "):
        await check("http://localhost:9000/", allow_private=False)


@pytest.mark.parametrize(
    "url", ["ftp://93.184.216.34/", "file:///etc/passwd", "http://", "https:///x", "93.184.216.34"]
)
async def test_only_http_urls_with_a_host(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(UnsafeTarget, match=r"^the URL must be http\(s\) with a host$"):
            await check(url, allow_private=allow)


async def test_every_address_of_the_host_must_be_public(resolver: dict[str, Any]) -> None:
    resolver["answers"]["mixed.example"] = ["93.184.216.34", "10.0.0.7", "127.0.0.2"]
    resolver["answers"]["public.example"] = ["93.184.216.34", "2606:4700::1111"]
    with pytest.raises(UnsafeTarget) as refused:
        await check("https://mixed.example/hook", allow_private=False)
    assert (
        str(refused.value) == "mixed.example resolves to internal address(es) 10.0.0.7, 127.0.0.2"
    )
    await check("https://public.example/hook", allow_private=False)


async def test_the_resolver_is_asked_for_the_port_the_url_will_use(
    resolver: dict[str, Any],
) -> None:
    resolver["answers"]["public.example"] = ["93.184.216.34"]
    for url in (
        "https://public.example/x",
        "http://public.example/x",
        "http://public.example:8080/x",
    ):
        await check(url, allow_private=False)
    assert resolver["calls"] == [
        ("public.example", 443, {"type": socket.SOCK_STREAM}),
        ("public.example", 80, {"type": socket.SOCK_STREAM}),
        ("public.example", 8080, {"type": socket.SOCK_STREAM}),
    ]


async def test_an_unresolvable_host_is_refused(resolver: dict[str, Any]) -> None:
    resolver["answers"]["gone.example"] = socket.gaierror(socket.EAI_NONAME, "not known")
    with pytest.raises(UnsafeTarget, match=r"^the host 'gone.example' does not resolve$") as e:
        await check("https://gone.example/", allow_private=False)
    assert isinstance(e.value.__cause__, socket.gaierror)


async def test_allowed_private_targets_are_not_even_resolved(resolver: dict[str, Any]) -> None:
    resolver["answers"]["gone.example"] = socket.gaierror(socket.EAI_NONAME, "not known")
    await check("https://gone.example/", allow_private=True)
    assert resolver["calls"] == []
