"""The pure cashback rules at their boundaries: balance exact and one kopeck over, the end of the
hold and the instant of expiry, bounded ledger keys, clawback shares, expiry notices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.cashback import rules
from app.cashback.rules import CashbackRules, ExpiringLot, Lot

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def lot(
    id_: int, remaining: int, expires: datetime, available: datetime = T - timedelta(days=30)
) -> Lot:
    return Lot(id_, remaining, expires, available)


def test_exactly_the_balance_is_covered_one_kopeck_more_is_not() -> None:
    assert rules.covers(10_000, 10_000)
    assert not rules.covers(10_000, 10_001)
    assert rules.covers(10_000, 1)
    assert not rules.covers(0, 1)
    assert not rules.covers(10_000, 0)


def test_spend_takes_exactly_the_balance_and_never_more_than_the_lots_hold() -> None:
    lots = [lot(1, 6_000, T + timedelta(days=2)), lot(2, 4_000, T + timedelta(days=1))]
    assert rules.spend(lots, 10_000, T) == [(2, 4_000), (1, 6_000)]  # oldest expiry first
    assert rules.spendable(lots, T) == 0
    lots = [lot(1, 6_000, T + timedelta(days=2)), lot(2, 4_000, T + timedelta(days=1))]
    taken = rules.spend(lots, 10_001, T)
    assert sum(part for _, part in taken) == 10_000  # one kopeck over: only what is there
    assert all(x.remaining_minor == 0 for x in lots)


def test_a_lot_stops_counting_at_its_expiry_instant_and_starts_at_the_end_of_its_hold() -> None:
    expires = T + timedelta(days=10)
    held = lot(1, 500, expires, available=T)
    assert rules.spendable([held], expires - SECOND) == 500
    assert rules.spendable([held], expires) == 0  # at expires_at it is gone
    assert rules.spendable([held], expires + SECOND) == 0
    assert rules.spend([held], 500, expires + SECOND) == []
    assert rules.pending([held], T - SECOND) == 500 and rules.spendable([held], T - SECOND) == 0
    assert rules.spendable([held], T) == 500 and rules.pending([held], T) == 0
    # A pending lot is spent only when asked (a clawback), or when named first (its own lot).
    pending = [lot(1, 300, expires, available=T + SECOND), lot(2, 200, expires)]
    assert rules.spend(pending, 500, T) == [(2, 200)]
    pending = [lot(1, 300, expires, available=T + SECOND), lot(2, 200, expires)]
    assert rules.spend(pending, 500, T, include_pending=True) == [(1, 300), (2, 200)]
    pending = [lot(1, 300, expires, available=T + SECOND), lot(2, 200, T + SECOND)]
    assert rules.spend(pending, 250, T, first=(1,)) == [(1, 250)]


def test_ledger_keys_are_bounded_whatever_the_ids() -> None:
    assert rules.source_key("earn", "o-1") == "earn:o-1"
    long_order, long_event = "o" * 200, "e" * 200
    key = rules.source_key("clawback", long_order, long_event)
    assert len(key) <= 260 and key.startswith("clawback:#")
    assert key != rules.source_key("clawback", long_order, long_event + "x")
    # Composite parts never collide by where the separator falls.
    assert rules.source_key("k", "a:b", "c") != rules.source_key("k", "a", "b:c")
    assert len(rules.source_key("expire", "earn:" + long_order)) <= 260


@pytest.mark.parametrize(
    ("refunded", "already", "expired", "expected"),
    [
        (500_00, 0, 0, 15_00),  # half the order: half its cashback
        (1000_00, 15_00, 0, 15_00),  # the rest, after the first half
        (1000_00, 0, 0, 30_00),
        (1000_01, 0, 0, 30_00),  # never more than the order earned
        (1000_00, 0, 30_00, 0),  # all of it expired unspent: nothing to take again
        (1000_00, 0, 20_00, 10_00),  # 10.00 was spent before the rest expired
        (500_00, 0, 20_00, 10_00),
        (1, 0, 0, 0),  # a kopeck's share of 30.00 rounds down to nothing
    ],
)
def test_clawback_share(refunded: int, already: int, expired: int, expected: int) -> None:
    assert rules.clawback_for(30_00, 1000_00, refunded, already, expired) == expected


def test_bonus_qualification_at_its_bound() -> None:
    assert rules.qualifies(2000_00, 2000_00)
    assert not rules.qualifies(2000_00 - 1, 2000_00)
    assert not rules.qualifies(0, 0)  # a fully refunded order never qualifies
    assert rules.bonus_clawback(300_00, 0) == 300_00
    assert rules.bonus_clawback(300_00, 300_00) == 0
    assert rules.bonus_clawback(300_00, 0, expired_minor=100_00) == 200_00


def test_one_notice_per_customer_and_date_with_the_total_never_for_the_past() -> None:
    day = T + timedelta(days=5)
    lots = [
        ExpiringLot(1, 100, day.replace(hour=1)),
        ExpiringLot(1, 250, day.replace(hour=23)),
        ExpiringLot(1, 40, day + timedelta(days=1)),
        ExpiringLot(2, 70, day),
        ExpiringLot(2, 0, day + timedelta(days=2)),  # nothing left: nothing to announce
        ExpiringLot(3, 999, T - SECOND),  # already past
        ExpiringLot(3, 999, T),  # expires at this very instant: past too
    ]
    notices = rules.expiry_notices(lots, T)
    assert [(n.customer_id, n.expires_on, n.amount_minor) for n in notices] == [
        (1, day.date(), 350),
        (1, (day + timedelta(days=1)).date(), 40),
        (2, day.date(), 70),
    ]
    assert notices[0].first_expires_at == day.replace(hour=1)
    # Later the same day, a lot already past no longer counts in its date's total.
    later = rules.expiry_notices(lots, day.replace(hour=2))
    assert (later[0].customer_id, later[0].amount_minor) == (1, 250)


def test_settings_keep_the_old_name_and_refuse_a_hold_longer_than_the_expiry() -> None:
    assert CashbackRules().hold_days == 14
    assert CashbackRules.model_validate({"refund_window_days": 3}).hold_days == 3
    assert CashbackRules.model_validate({"hold_days": 0}).hold == timedelta(0)
    with pytest.raises(ValidationError):
        CashbackRules.model_validate({"hold_days": 30, "expiry_days": 30})
