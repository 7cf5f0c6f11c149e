"""Cohort retention and value histograms (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import numpy as np


def month_index(at: datetime) -> int:
    return at.year * 12 + at.month - 1


def month_label(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def retention(
    purchases: Iterable[tuple[int, datetime]], as_of: datetime, months: int
) -> list[tuple[str, int, list[float]]]:
    """(cohort month, buyers, share of them buying in month 0, 1, 2, …) for the last `months`
    cohorts; a cohort is the month of a customer's first purchase."""
    by_customer: dict[int, set[int]] = defaultdict(set)
    for customer, at in purchases:
        if at <= as_of:
            by_customer[customer].add(month_index(at))
    last = month_index(as_of)
    cohorts: dict[int, list[set[int]]] = defaultdict(list)
    for active in by_customer.values():
        first = min(active)
        if first > last - months:
            cohorts[first].append(active)
    out = []
    for first in sorted(cohorts):
        members = cohorts[first]
        shares = [
            round(sum(1 for m in members if first + k in m) / len(members), 6)
            for k in range(last - first + 1)
        ]
        out.append((month_label(first), len(members), shares))
    return out


def histogram(values_minor: list[int], buckets: int) -> list[tuple[int, int, int]]:
    """(from, to, customers) in minor units; equal widths up to the 99th percentile, the last
    bucket open-ended so that a few whales do not flatten the picture."""
    if not values_minor:
        return []
    data = np.asarray(values_minor, dtype=np.float64)
    top = float(np.percentile(data, 99)) or float(data.max()) or 1.0
    width = max(top / buckets, 1.0)
    edges = [round(width * i) for i in range(buckets)] + [int(max(data.max(), top)) + 1]
    counts, _ = np.histogram(np.minimum(data, edges[-1] - 1), bins=edges)
    return [(edges[i], edges[i + 1], int(counts[i])) for i in range(buckets)]
