"""What the shop's own data says per category: its rhythm once it has enough repeat buyers,
and what its buyers spend in a year. Refreshed with every model fit; a category not yet in the
table is computed on first need (from the customers whose main category has that exact name).

Keys are normalised category names (app/lapse/categories.py): "Мебель/Диваны" counts for
"мебель/диваны" and for its first part "мебель"; the key "" stands for the whole shop.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.settings import Settings
from app.lapse import repository
from app.lapse.categories import CategoryClasses, candidates

WHOLE_SHOP = ""


@dataclass
class CategoryFacts:
    buyers: int = 0
    repeat_buyers: int = 0
    median_interval_days: float | None = None
    yearly_buyers: int = 0
    yearly_spend_minor: int = 0

    @property
    def yearly_spend_per_buyer_minor(self) -> int:
        return round(self.yearly_spend_minor / self.yearly_buyers) if self.yearly_buyers else 0


def keys_of(category: str | None) -> list[str]:
    """Every key a customer of this main category counts for (the whole shop included)."""
    return [*candidates(category), WHOLE_SHOP] if category else [WHOLE_SHOP]


def summarise(
    intervals: Iterable[tuple[str | None, int, float | None]],
    spend: Iterable[tuple[str | None, int, int]],
) -> dict[str, CategoryFacts]:
    medians: dict[str, list[float]] = defaultdict(list)
    facts: dict[str, CategoryFacts] = defaultdict(CategoryFacts)
    for category, purchases, median in intervals:
        for key in keys_of(category):
            facts[key].buyers += 1
            if purchases >= 2 and median is not None:
                facts[key].repeat_buyers += 1
                medians[key].append(median)
    for key, values in medians.items():
        facts[key].median_interval_days = statistics.median(values)
    for category, buyers, spent in spend:
        for key in keys_of(category):
            facts[key].yearly_buyers += buyers
            facts[key].yearly_spend_minor += spent
    return dict(facts)


@dataclass
class RhythmBook:
    """Rhythm and yearly spend of a category name, as the settings and the shop's data say."""

    settings: Settings
    learned: dict[str, CategoryFacts] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._classes = CategoryClasses(self.settings.lapse.category_map)

    def learned_days(self, category: str | None) -> float | None:
        for key in candidates(category) if category else []:
            facts = self.learned.get(key)
            if (
                facts is not None
                and facts.median_interval_days
                and facts.repeat_buyers >= self.settings.lapse.learn_min_repeat_buyers
            ):
                return facts.median_interval_days
        return None

    def rhythm_days(self, category: str | None) -> float:
        """The shop's own rhythm of the category once learned, else the configured one."""
        learned = self.learned_days(category)
        return learned if learned is not None else self.settings.rhythm_days(category)

    def configured_days(self, category: str | None) -> float | None:
        """The rhythm of a category the shop's data or the settings know (None: unknown)."""
        learned = self.learned_days(category)
        if learned is not None:
            return learned
        cls = self._classes.rhythm_class(category, self.settings.category_rhythm_days)
        return self.settings.category_rhythm_days[cls] if cls else None

    def yearly_spend_minor(self, category: str | None) -> int | None:
        """What one buyer of the category spends in a year at this shop (None: no data)."""
        for key in keys_of(category):
            facts = self.learned.get(key)
            if facts is not None and facts.yearly_buyers:
                return facts.yearly_spend_per_buyer_minor
        return None


def _rows(facts: dict[str, CategoryFacts], now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "category": key,
            "buyers": f.buyers,
            "repeat_buyers": f.repeat_buyers,
            "median_interval_days": f.median_interval_days,
            "yearly_buyers": f.yearly_buyers,
            "yearly_spend_minor": f.yearly_spend_minor,
            "learned_at": now,
        }
        for key, f in sorted(facts.items())
    ]


async def learn(session: AsyncSession, now: datetime | None = None) -> dict[str, CategoryFacts]:
    """Recompute every category from the customers and the latest year of orders."""
    facts = summarise(
        await repository.intervals_by_category(session),
        await repository.yearly_spend_by_category(session),
    )
    await repository.replace_category_rhythms(session, _rows(facts, now or utcnow()))
    return facts


async def book(
    session: AsyncSession,
    settings: Settings,
    categories: Iterable[str | None] = (),
    compute_missing: bool = True,
) -> RhythmBook:
    """The stored facts; categories never seen before are computed now (whole names only:
    their first parts and the whole shop are refreshed by the next fit)."""
    learned = {
        row.category: CategoryFacts(
            row.buyers,
            row.repeat_buyers,
            row.median_interval_days,
            row.yearly_buyers,
            row.yearly_spend_minor,
        )
        for row in await repository.category_rhythms(session)
    }
    names = {c for c in categories if c}
    new = {c for c in names if candidates(c)[0] not in learned}
    if compute_missing and (new or WHOLE_SHOP not in learned):
        found = summarise(
            await repository.intervals_by_category(session, new),
            await repository.yearly_spend_by_category(session, new),
        )
        wanted = {candidates(c)[0] for c in new}
        if WHOLE_SHOP not in learned:
            wanted.add(WHOLE_SHOP)
            found[WHOLE_SHOP] = summarise(
                await repository.intervals_by_category(session),
                await repository.yearly_spend_by_category(session),
            ).get(WHOLE_SHOP, CategoryFacts())
        fresh = {k: v for k, v in found.items() if k in wanted}
        for key in wanted - set(fresh):
            fresh[key] = CategoryFacts()
        await repository.add_category_rhythms(session, _rows(fresh, utcnow()))
        learned.update(fresh)
    return RhythmBook(settings, learned)
