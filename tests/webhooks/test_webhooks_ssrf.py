"""Targets are checked at every delivery, Bitrix24 ones too, against the special-purpose
registries, on every address the host resolves to, and the connection goes to the address
checked; messages about endpoints never carry their secrets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.auth.scopes import Scope
from app.core.outbox import OutboxMessage, emit
from app.webhooks import delivery, ssrf
from app.webhooks.models import Attempt, Delivery
from tests.conftest import KeyMaker
from tests.webhooks.servers import FakeBitrix, Receiver

PUBLIC_V4 = "93.184.215.14"


class FakeDNS:
    """A resolver the test controls: what a hostile DNS could answer, one answer at a time."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.asked: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host in self.answers:
            return list(self.answers[host])
        return await ssrf.system_resolver(host, port)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeDNS]:
    fake = FakeDNS()
    monkeypatch.setattr(ssrf, "resolver", fake)
    yield fake


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    key = await make_key(Scope.WEBHOOKS_MANAGE, Scope.EVENTS_WRITE)
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    "address",
    [
        "100.100.100.200",  # cloud metadata inside 100.64.0.0/10
        "100.64.0.1",
        "127.0.0.1",
        "0.0.0.0",
        "10.1.2.3",
        "169.254.169.254",
        "172.16.0.1",
        "192.0.0.170",
        "192.0.2.1",
        "192.88.99.1",
        "192.168.1.1",
        "198.18.0.1",
        "198.51.100.7",
        "203.0.113.9",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:8.8.8.8",
        "64:ff9b::7f00:1",
        "100::1",
        "2001::1",
        "2001:db8::1",
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "3fff::1",
        "5f00::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1%eth0",
        "fec0::1",
        "ff02::1",
    ],
)
def test_special_purpose_addresses_are_internal(address: str) -> None:
    assert ssrf.special_purpose(address) is not None


@pytest.mark.parametrize("address", [PUBLIC_V4, "8.8.8.8", "2606:4700:4700::1111", "2a00::1"])
def test_public_addresses_are_not(address: str) -> None:
    assert ssrf.special_purpose(address) is None


async def test_every_resolved_address_is_checked(dns: FakeDNS) -> None:
    dns.answers["mixed.example"] = [PUBLIC_V4, "100.100.100.200"]
    with pytest.raises(ssrf.UnsafeTarget, match=r"100\.64\.0\.0/10"):
        await ssrf.resolve("https://mixed.example/hook", allow_private=False)
    dns.answers["fine.example"] = [PUBLIC_V4]
    target = await ssrf.resolve("https://fine.example:8443/hook?t=1", allow_private=False)
    assert target.url == f"https://{PUBLIC_V4}:8443/hook?t=1"
    assert target.headers == {"Host": "fine.example:8443"}
    assert target.extensions == {"sni_hostname": "fine.example"}
    dns.answers["v6.example"] = ["2606:4700:4700::1111"]
    target = await ssrf.resolve("http://v6.example/x", allow_private=False)
    assert target.url == "http://[2606:4700:4700::1111]/x"


async def drain(app: Any, settings: Any) -> None:
    for _ in range(5):
        await delivery.fan_out(app.state.db, settings)
        await delivery.deliver_due(app.state.db, settings)
        await asyncio.sleep(0.05)


async def attempts(app: Any) -> list[Attempt]:
    async with app.state.db.sessionmaker() as s:
        return list(await s.scalars(select(Attempt).order_by(Attempt.id)))


async def test_a_host_that_turns_to_loopback_after_creation_is_refused_at_delivery(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any, dns: FakeDNS
) -> None:
    receiver = Receiver()
    receiver.start()
    strict = settings.model_copy(update={"webhook_allow_private": False})
    app.state.settings = strict
    try:
        dns.answers["hooks.shop.example"] = [PUBLIC_V4]  # public when the endpoint is created
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": f"http://hooks.shop.example:{receiver.port}/hook"},
            headers=h,
        )
        assert r.status_code == 201
        dns.answers["hooks.shop.example"] = ["127.0.0.1"]  # rebinding: now loopback
        async with app.state.db.sessionmaker() as s, s.begin():
            await emit(s, "customer.at_risk", {"customer_id": "c1"}, "c1")
        await drain(app, strict)
        assert receiver.requests == []
        (first, *_) = await attempts(app)
        assert first.error and "127.0.0.0/8" in first.error and "refused target" in first.error
    finally:
        receiver.stop()


async def test_the_connection_goes_to_the_address_checked(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any, dns: FakeDNS
) -> None:
    """`receiver.invalid` has no DNS record anywhere: the request can reach the receiver only
    through the address the check resolved and pinned."""
    receiver = Receiver()
    receiver.start()
    try:
        dns.answers["receiver.invalid"] = ["127.0.0.1"]
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": f"http://receiver.invalid:{receiver.port}/hook"},
            headers=h,
        )
        assert r.status_code == 201
        async with app.state.db.sessionmaker() as s, s.begin():
            await emit(s, "customer.at_risk", {"customer_id": "c1"}, "c1")
        await drain(app, settings)
        assert len(receiver.requests) == 1
        headers, _ = receiver.requests[0]
        assert headers["host"] == f"receiver.invalid:{receiver.port}"
    finally:
        receiver.stop()


async def test_bitrix24_endpoints_get_the_same_check_at_delivery(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any, dns: FakeDNS
) -> None:
    portal = FakeBitrix()
    portal.start()
    try:
        # Created while private targets were allowed; the setting is off after a restart.
        r = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": portal.url + "rest/1/abc/", "kind": "bitrix24"},
            headers=h,
        )
        assert r.status_code == 201
        dns.answers["portal.example"] = [PUBLIC_V4]
        rebinding = await client.post(
            "/v1/webhooks/endpoints",
            json={"url": f"http://portal.example:{portal.port}/rest/1/xyz/", "kind": "bitrix24"},
            headers=h,
        )
        assert rebinding.status_code == 201
        dns.answers["portal.example"] = ["127.0.0.1"]
        strict = settings.model_copy(update={"webhook_allow_private": False})
        async with app.state.db.sessionmaker() as s, s.begin():
            await emit(s, "customer.at_risk", {"customer_id": "c1", "status": "at_risk"}, "c1")
        await drain(app, strict)
        assert portal.requests == 0
        errors = [a.error or "" for a in await attempts(app)]
        assert len(errors) >= 2 and all("refused target" in e for e in errors)
        async with app.state.db.sessionmaker() as s:
            assert {d.status for d in await s.scalars(select(Delivery))} == {"pending"}
    finally:
        portal.stop()


async def test_endpoint_disabled_messages_carry_no_secret(
    client: httpx.AsyncClient, h: dict[str, str], app: Any, settings: Any
) -> None:
    gone = Receiver(lambda n: (410, {}))
    gone.start()
    portal = FakeBitrix()
    portal.forced_errors = [(410, "GONE")] * 5
    portal.start()
    try:
        for body in (
            {"url": gone.url + "hook?token=s3cr3t-query-token"},
            {"url": portal.url + "rest/7/w3bh00kc0de/", "kind": "bitrix24"},
        ):
            assert (
                await client.post("/v1/webhooks/endpoints", json=body, headers=h)
            ).status_code == 201
        async with app.state.db.sessionmaker() as s, s.begin():
            await emit(s, "customer.at_risk", {"customer_id": "c1", "status": "at_risk"}, "c1")
        short = settings.model_copy(
            update={
                "webhook_disable_after_hours": 1e-7,
                "webhook_retry_schedule_seconds": [0.0, 0.05, 0.05, 0.05],
            }
        )
        await drain(app, short)
        async with app.state.db.sessionmaker() as s:
            disabled = list(
                await s.scalars(
                    select(OutboxMessage).where(OutboxMessage.type == "endpoint.disabled")
                )
            )
        assert len(disabled) == 2
        text = json.dumps([m.payload for m in disabled])
        assert "s3cr3t" not in text and "w3bh00kc0de" not in text and "hook" not in text
        assert {m.payload["origin"] for m in disabled} == {gone.url[:-1], portal.url[:-1]}
    finally:
        gone.stop()
        portal.stop()
