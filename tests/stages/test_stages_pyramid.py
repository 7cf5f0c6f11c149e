from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker
from tests.factories import NOW, at


async def test_pyramid_in_people_and_money(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.EVENTS_WRITE, Scope.CUSTOMERS_READ)}"}
    events = [
        at(f.contact("p1"), 50),
        at(f.contact("p2"), 50),
        at(f.purchase("b1", amount="1000.00"), 40),
        at(f.purchase("b2", amount="1000.00"), 40),
        at(f.purchase("c1", amount="1500.00"), 40),
        at(f.purchase("c1", amount="1500.00"), 38),
        *[at(f.purchase("r1", amount="1000.00"), 31 - 10 * i) for i in range(4)],
    ]
    # Sent as they happen, one by one (the stage history keeps one change per customer and batch).
    for event in sorted(events, key=lambda e: e["occurred_at"]):
        assert (await client.post("/v1/events?wait=true", json=event, headers=h)).status_code == 201
    body = (await client.get("/v1/analytics/pyramid", headers=h)).json()
    levels = {lv["stage"]: lv for lv in body["levels"]}
    assert [lv["stage"] for lv in body["levels"]][:6] == [
        "prospect",
        "lead",
        "hot_lead",
        "buyer",
        "client",
        "regular",
    ]
    assert body["customers"] == 6
    assert body["revenue"] == "9000.00"
    assert body["repeat_revenue_share"] == pytest.approx(7000 / 9000, abs=1e-6)
    assert (levels["prospect"]["customers"], levels["buyer"]["customers"]) == (2, 2)
    assert levels["client"]["customers"] == 1 and levels["regular"]["customers"] == 1
    assert levels["buyer"]["average_revenue"] == "1000.00"
    assert levels["client"]["average_revenue"] == "3000.00"
    assert levels["regular"]["average_revenue"] == "4000.00"
    assert levels["prospect"]["share"] == pytest.approx(1 / 3, abs=1e-6)
    # People narrow: 6 known, 4 bought, 2 repeated, 1 regular.
    assert [levels[s]["reached"] for s in ("prospect", "buyer", "client", "regular")] == [
        6,
        4,
        2,
        1,
    ]
    assert levels["buyer"]["conversion"] == pytest.approx(1.0)  # from hot_lead's reached (4)
    assert levels["client"]["conversion"] == pytest.approx(0.5)
    assert levels["regular"]["conversion"] == pytest.approx(0.5)
    # Money widens per head: the average climbs while the head count falls.
    assert levels["client"]["money_conversion"] == pytest.approx(7000 / 9000, abs=1e-6)
    assert levels["regular"]["money_conversion"] == pytest.approx(4000 / 7000, abs=1e-6)

    past = (
        await client.get(
            "/v1/analytics/pyramid",
            params={"as_of": (NOW - timedelta(days=39)).isoformat()},
            headers=h,
        )
    ).json()
    assert past["customers"] == 5  # r1 had not appeared yet
    assert past["revenue"] == "3500.00"
    past_levels = {lv["stage"]: lv["customers"] for lv in past["levels"]}
    assert past_levels["buyer"] == 3 and past_levels["client"] == 0
