"""Events of a synthetic shop (pure, seeded): several categories with their own rhythms, leads
who never buy, contacts, referrals, reviews, refunds, and profiles."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

CATEGORIES = {  # category: (days between purchases, typical check)
    "coffee": (4.0, 450),
    "cosmetics": (40.0, 2400),
    "books": (50.0, 900),
    "clothing": (80.0, 4500),
    "furniture": (365.0, 38000),
}
COMPANIES = ["ООО Ромашка", "АО Вектор", "ИП Смирнов", "ООО Север", None, None, None]
ZONES = ["Europe/Moscow", "Asia/Yekaterinburg", "Asia/Novosibirsk", "Europe/Kaliningrad"]


def events(now: datetime, customers: int = 2000, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    seq = 0

    def add(kind: str, cid: str, at: datetime, **fields: Any) -> None:
        nonlocal seq
        seq += 1
        out.append(
            {
                "event_id": f"demo-{seq}",
                "type": kind,
                "customer_id": cid,
                "occurred_at": min(at, now).isoformat(),
                **fields,
            }
        )

    buyers: list[str] = []
    for i in range(customers):
        cid = f"demo-{i:05d}"
        first = now - timedelta(days=rnd.uniform(5, 720))
        age = rnd.choice([24, 31, 38, 45, 52, 58, 63])
        add(
            "profile",
            cid,
            first,
            email=f"{cid}@example.com",
            phone=f"+7 900 {i:07d}",
            birth_date=date(now.year - age, rnd.randint(1, 12), rnd.randint(1, 28)).isoformat(),
            timezone=rnd.choice(ZONES),
            **({"company": c} if (c := rnd.choice(COMPANIES)) else {}),
        )
        add(
            "contact",
            cid,
            first,
            channel=rnd.choice(["email", "call", "messenger"]),
            direction="inbound",
            reason="first question",
        )
        add("lead", cid, first + timedelta(hours=1), level="interest")
        if rnd.random() < 0.25:  # leads who never buy
            if rnd.random() < 0.5:
                add("lead", cid, first + timedelta(days=2), level="desire")
            continue
        category = rnd.choice(list(CATEGORIES))
        rhythm, check = CATEGORIES[category]
        personal = rhythm * rnd.uniform(0.6, 1.6)
        t = first + timedelta(days=rnd.uniform(0, 10))
        # Some customers stop: their last purchase is long before now.
        stop = now - timedelta(days=rnd.uniform(0, 3 * personal)) if rnd.random() < 0.35 else now
        n = 0
        while t < stop and n < 60:
            amount = max(50, round(rnd.gauss(check, check * 0.3)))
            add(
                "purchase",
                cid,
                t,
                order_id=f"{cid}-o{n}",
                amount=f"{amount}.00",
                currency="RUB",
                category=category,
            )
            if rnd.random() < 0.04:
                add(
                    "refund",
                    cid,
                    t + timedelta(days=2),
                    order_id=f"{cid}-o{n}",
                    amount=f"{amount // 2}.00",
                )
            n += 1
            t += timedelta(days=rnd.expovariate(1 / personal))
        buyers.append(cid)
        if n >= 4 and rnd.random() < 0.3:
            add("profile", cid, t - timedelta(days=1), exclusive=True)
        if rnd.random() < 0.15:
            add(
                "review",
                cid,
                t - timedelta(days=1),
                rating=rnd.choice([3, 4, 5, 5]),
                public=rnd.random() < 0.7,
            )
        if rnd.random() < 0.2:
            add(
                "contact",
                cid,
                t - timedelta(days=3),
                channel="call",
                direction="outbound",
                reason="check-in",
                outcome=rnd.choice(["reached", "no_answer", "complaint"]),
            )
    # Referrals: some customers came on a buyer's recommendation.
    for cid in rnd.sample(buyers, k=min(len(buyers) // 10, 200)):
        referrer = rnd.choice(buyers)
        if referrer != cid:
            first = next(e["occurred_at"] for e in out if e["customer_id"] == cid)
            add("referral", cid, datetime.fromisoformat(first), referrer_id=referrer)
    out.sort(key=lambda e: e["occurred_at"])
    return out
