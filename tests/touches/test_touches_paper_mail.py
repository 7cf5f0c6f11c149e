"""A paper-mail touch says where to write: the profile's name and postal address."""

from __future__ import annotations

import httpx

from app.auth.scopes import Scope
from tests import factories as f
from tests.conftest import KeyMaker

ADDRESS = {"text": "125009, Москва, ул. Тверская, д. 7, кв. 12", "city": "Москва"}


async def test_a_paper_mail_touch_carries_the_address(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    h = {"Authorization": f"Bearer {await make_key(Scope.ADMIN)}"}
    profile = {
        "name": "Ирина Петровна",
        "postal_address": ADDRESS,
        "preferred_channels": ["paper_mail"],
        "consents": {"paper_mail": True},
    }
    await f.send(
        client,
        h,
        f.at(f.profile("irina", **profile), 3),
        f.at(f.purchase("irina", amount="5000.00"), 2),
        f.at(f.profile("oleg", name="Олег", postal_address=ADDRESS), 3),
        f.at(f.purchase("oleg", amount="5000.00"), 2),
    )
    touch = (await client.get("/v1/customers/irina/next-touch", headers=h)).json()["touch"]
    assert touch["channel"] == "paper_mail"
    assert touch["recipient"] == {"name": "Ирина Петровна", "postal_address": ADDRESS}
    other = (await client.get("/v1/customers/oleg/next-touch", headers=h)).json()["touch"]
    assert other["channel"] != "paper_mail" and other["recipient"] is None
