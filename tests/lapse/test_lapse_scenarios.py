"""The shop's scenarios through the API: weekly rhythms, categories named in Russian, a learned
category rhythm, and value at risk measured against what the shop's own buyers spend."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at, send

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
async def h(make_key: KeyMaker) -> dict[str, str]:
    return {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}


def purchase_at(customer: str, when: datetime, category: str, amount: str = "250.00") -> Any:
    return f.purchase(customer, amount=amount, category=category) | {
        "occurred_at": when.astimezone(UTC).isoformat()
    }


async def lapsed(client: httpx.AsyncClient, h: dict[str, str], when: datetime) -> dict[str, Any]:
    r = await client.get(
        "/v1/customers/lapsed", params={"as_of": when.astimezone(UTC).isoformat()}, headers=h
    )
    assert r.status_code == 200, r.text
    return {x["customer_id"]: x for x in r.json()["items"]}


def last_friday_before(moment: datetime, days: int) -> datetime:
    """A Friday 09:00 Moscow time at least `days` days before `moment`."""
    day = (moment - timedelta(days=days)).astimezone(MOSCOW).date()
    while day.weekday() != 4:
        day -= timedelta(days=1)
    return datetime(day.year, day.month, day.day, 9, tzinfo=MOSCOW)


async def test_weekday_coffee_buyer_over_a_weekend_and_a_silent_week(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    friday = last_friday_before(NOW, 8)
    monday = friday - timedelta(days=25)
    days = [monday + timedelta(days=7 * w + d) for w in range(4) for d in range(5)]
    await send(client, h, *[purchase_at("office", d, "Кофе") for d in days])
    sunday = friday + timedelta(days=2, hours=1)  # Sunday 10:00
    assert "office" not in await lapsed(client, h, sunday)
    stage = (
        await client.get(
            "/v1/customers/office/stage",
            params={"as_of": sunday.astimezone(UTC).isoformat()},
            headers=h,
        )
    ).json()
    assert stage["stage"] == "adherent", stage  # not dropped to client over the weekend
    monday_evening = friday + timedelta(days=3, hours=9)
    assert "office" not in await lapsed(client, h, monday_evening)
    wednesday_noon = friday + timedelta(days=5, hours=3)
    row = (await lapsed(client, h, wednesday_noon))["office"]
    assert row["status"] == "at_risk"
    assert 1.3 < row["usual_interval_days"] < 1.5  # five a week on a seven-day calendar


async def test_five_a_week_buyer_who_stops_is_flagged_within_three_to_five_days(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    weeks = [[0, 1, 3, 4, 6], [0, 2, 3, 5, 6], [1, 2, 4, 5, 6], [0, 1, 3, 5, 6]]
    start = NOW - timedelta(days=40)
    times = [
        start + timedelta(weeks=w, days=d, hours=(3 * d) % 7)
        for w, pattern in enumerate(weeks)
        for d in pattern
    ]
    await send(client, h, *[purchase_at("regular", t, "coffee") for t in times])
    last = max(times)
    assert "regular" not in await lapsed(client, h, last + timedelta(days=2.9))
    flagged = (await lapsed(client, h, last + timedelta(days=5)))["regular"]
    assert flagged["status"] == "at_risk"
    became = 5 - flagged["overdue_days"]
    assert 3 <= became <= 5, became


async def test_furniture_named_in_russian_is_due_after_about_eighteen_months(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    await send(
        client,
        h,
        at(f.purchase("romashka", amount="185400.00", category="Мебель/Диваны"), 200),
        at(f.purchase("old-sofa", amount="185400.00", category="Мебель/Диваны"), 600),
    )
    now = await lapsed(client, h, NOW)
    assert "romashka" not in now  # active at 200 days
    assert now["old-sofa"]["status"] in {"at_risk", "lapsed", "lost"}
    assert now["old-sofa"]["usual_interval_days"] == 365
    bought = NOW - timedelta(days=600)
    assert "old-sofa" not in await lapsed(client, h, bought + timedelta(days=30.44 * 17.5))
    assert "old-sofa" in await lapsed(client, h, bought + timedelta(days=30.44 * 18.5))
    # One order of a kind the shop sold once in a year is not worth millions a year.
    assert float(now["old-sofa"]["value_at_risk"]) <= 185400


async def test_a_category_rhythm_is_learned_after_thirty_repeat_buyers(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    def tea_buyer(i: int) -> list[dict[str, Any]]:
        return [at(f.purchase(f"tea{i}", category="Чай/Улун"), 100 - 10 * k) for k in range(4)]

    await send(client, h, *[e for i in range(29) for e in tea_buyer(i)])
    assert (await client.post("/v1/models/fit", headers=h)).status_code in {200, 201}
    await send(client, h, at(f.purchase("probe29", category="Чай/Улун"), 20))
    # 29 repeat buyers: the default rhythm (30 days) still applies; 20 days silent is fine.
    assert "probe29" not in await lapsed(client, h, NOW)

    await send(client, h, *tea_buyer(29))
    assert (await client.post("/v1/models/fit", headers=h)).status_code in {200, 201}
    await send(client, h, at(f.purchase("probe30", category="Чай/Улун"), 20))
    row = (await lapsed(client, h, NOW))["probe30"]
    # 30 repeat buyers every 10 days: the shop's own tea rhythm.
    assert row["usual_interval_days"] == 10
    assert row["status"] == "at_risk"
    # Any tea subcategory shares it through the first part of the path.
    await send(client, h, at(f.purchase("probe-green", category="ЧАЙ/Зелёный"), 20))
    assert (await lapsed(client, h, NOW))["probe-green"]["usual_interval_days"] == 10


def yearly_spend_per_buyer(orders: list[tuple[str, float, float]]) -> float:
    """What the shop's coffee buyers spent over the latest 365 days of its orders, per buyer."""
    latest = min(days for _, days, _ in orders)
    window = [(c, amount) for c, days, amount in orders if days < latest + 365]
    return sum(a for _, a in window) / len({c for c, _ in window})


async def test_value_at_risk_of_c42_against_the_shop_s_yearly_coffee_spend(
    client: httpx.AsyncClient, h: dict[str, str]
) -> None:
    orders = [
        (f"coffee{i}", float(days), 1500.0 + 10 * i)
        for i in range(20)
        for days in range(3 + i % 3, 360, 14)
    ]
    await send(
        client,
        h,
        *[at(f.purchase(c, amount=f"{a:.2f}", category="Кофе"), days) for c, days, a in orders],
    )
    assert (await client.post("/v1/models/fit", headers=h)).json()["kind"] == "heuristic"
    await send(client, h, at(f.purchase("c-42", amount="1500.00", category="Кофе"), 273))
    c42 = (await lapsed(client, h, NOW))["c-42"]
    shop_yearly = yearly_spend_per_buyer(orders)
    # Before: 1,500 × 365 / 2 = 273,750 a year. Now: what one coffee buyer spends a year.
    assert float(c42["value_at_risk"]) == pytest.approx(shop_yearly, abs=0.01)

    # With fitted models the value is BG/NBD purchases if alive × Gamma-Gamma spend, and
    # still not above the shop's yearly coffee spend per buyer for one order.
    more = [
        (f"coffee{i}", float(days), 1500.0) for i in range(20, 40) for days in range(5, 200, 21)
    ]
    await send(
        client,
        h,
        *[at(f.purchase(c, amount=f"{a:.2f}", category="Кофе"), d) for c, d, a in more],
    )
    fit = (await client.post("/v1/models/fit", headers=h)).json()
    assert fit["kind"] == "bgnbd+gg"
    c42 = (await lapsed(client, h, NOW))["c-42"]
    value = float(c42["value_at_risk"])
    assert 0 < value <= yearly_spend_per_buyer(orders + more) + 0.01
    assert c42["p_alive"] == 1.0  # one purchase: BG/NBD cannot tell a dropout
