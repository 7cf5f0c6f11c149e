"""Touches due on the first day after `touchpoint demo` (a shop importing two years of history).

Runs `touchpoint demo` on a fresh database (SQLite in a temporary directory unless
`--database-url`), then counts the planned touches due within 24 hours of the end of the demo,
by playbook, and checks that no care touch falls later than the care window after the first
purchase.

    .venv/bin/python bench/touches_first_day.py [--customers 2000] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import select

from app.core.db import create_database, utcnow
from app.core.settings import Settings
from app.customers.models import Customer
from app.touches.models import Touch


async def count(settings: Settings) -> None:
    db = create_database(settings)
    now = utcnow()
    first_day = now + timedelta(days=1)
    window = timedelta(days=settings.touches.care_window_days)
    try:
        async with db.sessionmaker() as session:
            rows = (
                await session.execute(
                    select(Touch, Customer.first_purchase_at)
                    .join(Customer, Customer.id == Touch.customer_id)
                    .where(Touch.status == "planned")
                )
            ).all()
    finally:
        await db.dispose()
    planned = Counter(t.playbook for t, _ in rows)
    due = Counter(t.playbook for t, _ in rows if t.due_at <= first_day)
    overdue = Counter(t.playbook for t, _ in rows if t.due_at <= now)
    late_care = [
        t.id for t, first in rows if t.playbook == "care" and first and t.due_at - first > window
    ]
    print(f"planned touches: {sum(planned.values())}  {dict(sorted(planned.items()))}")
    print(f"due within the first day: {sum(due.values())}  {dict(sorted(due.items()))}")
    print(f"  of which already due at the end of the demo: {sum(overdue.values())}")
    print(f"care touches later than {window.days} days after the first purchase: {len(late_care)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{tmp}/demo.db"
        env = os.environ | {"TOUCHPOINT_DATABASE_URL": url}
        cli = Path(sys.executable).with_name("touchpoint")
        subprocess.run(
            [str(cli), "demo", "--customers", str(args.customers), "--seed", str(args.seed)],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        asyncio.run(count(Settings(database_url=url)))


if __name__ == "__main__":
    main()
