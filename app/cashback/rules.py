"""Cashback rules (pure): how much a purchase earns, when a lot can be spent, how lots are spent,
clawed back and expired, and which expiry dates are announced."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pydantic import AliasChoices, BaseModel, Field, model_validator

DEFAULT_EARN_RATES = {
    "prospect": 0.03,
    "lead": 0.03,
    "hot_lead": 0.03,
    "buyer": 0.03,
    "client": 0.04,
    "regular": 0.05,
    "adherent": 0.07,
    "advocate": 0.10,
}


class CashbackRules(BaseModel):
    """Defaults; override with TOUCHPOINT_CASHBACK='{"expiry_days": 180, "hold_days": 30}'."""

    earn_rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EARN_RATES),
        description="Share of the purchase amount earned, by stage: higher stages earn more.",
    )
    referral_bonus_minor: int = Field(default=50_000, ge=0, description="To the referrer (500.00).")
    welcome_bonus_minor: int = Field(default=30_000, ge=0, description="To the referred (300.00).")
    bonus_min_order_minor: int = Field(
        default=0,
        ge=0,
        description="A referred customer's first order of at least this amount qualifies for "
        "both bonuses; refunding it below this (or fully) takes both back.",
    )
    expiry_days: int = Field(default=365, ge=1, description="Each earned lot expires after this.")
    expiring_notice_days: int = Field(
        default=30, ge=0, description="cashback.expiring goes out this long before expiry."
    )
    hold_days: float = Field(
        default=14,
        ge=0,
        validation_alias=AliasChoices("hold_days", "refund_window_days"),
        description="Earned cashback and bonuses are pending (not spendable) this long after "
        "their order: the usual return window.",
    )
    reversal_fresh_days: int = Field(
        default=30,
        ge=0,
        description="A reversed redemption whose lots have expired meanwhile comes back as a "
        "fresh lot expiring after this many days (0: it is recorded as expired).",
    )
    me_max_redemption_minor: int = Field(
        default=500_000, ge=1, description="Mobile app: at most this per redemption (5,000.00)."
    )
    me_max_daily_minor: int = Field(
        default=1_000_000,
        ge=1,
        description="Mobile app: at most this redeemed per customer token in 24 hours.",
    )

    model_config = {"populate_by_name": True}

    @model_validator(mode="after")
    def _hold_within_expiry(self) -> CashbackRules:
        if self.hold_days >= self.expiry_days:
            raise ValueError("cashback hold_days must be shorter than expiry_days")
        return self

    def rate(self, stage: str) -> float:
        return self.earn_rates.get(stage, self.earn_rates.get("buyer", 0.0))

    @property
    def hold(self) -> timedelta:
        return timedelta(days=self.hold_days)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(days=self.expiry_days)


def earned_on(amount_minor: int, rate: float) -> int:
    """Cashback for a purchase, rounded down to the kopeck (never more than promised)."""
    return int(amount_minor * rate)


def source_key(kind: str, *parts: str | int) -> str:
    """A ledger entry's unique cause, bounded whatever the lengths of the ids it derives from.

    One short part is kept readable (`earn:o-1`); anything longer or composite is hashed, so a
    200-character order id and a 200-character event id still fit `source` (260)."""
    if len(parts) == 1 and len(str(parts[0])) <= 200:
        return f"{kind}:{parts[0]}"
    digest = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).hexdigest()
    return f"{kind}:#{digest}"


def clawback_for(
    earned_minor: int,
    order_amount_minor: int,
    refund_minor: int,
    already_clawed_minor: int,
    expired_minor: int = 0,
) -> int:
    """What a refund takes back: the refunded share of what the order earned.

    Computed on the cumulative refunded share, so several partial refunds take back exactly
    what one refund of their sum would. What expired unspent is not taken again: the customer
    already lost it.
    """
    if order_amount_minor <= 0 or earned_minor <= 0:
        return 0
    total = earned_minor * min(refund_minor, order_amount_minor) // order_amount_minor
    total = min(total, max(earned_minor - expired_minor, 0))
    return max(total - already_clawed_minor, 0)


def bonus_clawback(bonus_minor: int, already_clawed_minor: int, expired_minor: int = 0) -> int:
    """A bonus whose qualifying order no longer qualifies is taken back whole (less what
    expired unspent)."""
    return max(bonus_minor - expired_minor - already_clawed_minor, 0)


def qualifies(net_minor: int, min_order_minor: int) -> bool:
    """Whether an order (what is left of it after refunds) still earns a referral bonus."""
    return net_minor > 0 and net_minor >= min_order_minor


def covers(spendable_minor: int, amount_minor: int) -> bool:
    """Whether a spendable balance pays for a redemption: exactly the balance does."""
    return 0 < amount_minor <= spendable_minor


@dataclass
class Lot:
    id: int
    remaining_minor: int
    expires_at: datetime
    available_at: datetime
    order_id: str | None = None

    def live(self, now: datetime) -> bool:
        """Not past its expiry: it still counts (spendable or pending)."""
        return self.remaining_minor > 0 and self.expires_at > now

    def spendable(self, now: datetime) -> bool:
        return self.live(now) and self.available_at <= now


def spendable(lots: Iterable[Lot], now: datetime) -> int:
    """The balance a customer can spend at `now`: never a lot past its expiry or still held."""
    return sum(lot.remaining_minor for lot in lots if lot.spendable(now))


def pending(lots: Iterable[Lot], now: datetime) -> int:
    """Cashback still inside its hold period: shown, not spendable."""
    return sum(lot.remaining_minor for lot in lots if lot.live(now) and lot.available_at > now)


def spend(
    lots: list[Lot],
    amount_minor: int,
    now: datetime,
    *,
    include_pending: bool = False,
    first: Iterable[int] = (),
) -> list[tuple[int, int]]:
    """Take `amount_minor` from the lots usable at `now`: the lots named in `first` before the
    others (a clawback takes its own lot first), then oldest-expiring first. Spendable lots only
    unless `include_pending`. Returns (lot id, taken) pairs; takes at most what the lots hold."""
    preferred = {lot_id: rank for rank, lot_id in enumerate(first)}
    usable = [
        lot
        for lot in lots
        if lot.live(now) and (include_pending or lot.available_at <= now or lot.id in preferred)
    ]
    order = sorted(
        usable,
        key=lambda lot: (preferred.get(lot.id, len(preferred)), lot.expires_at, lot.id),
    )
    taken: list[tuple[int, int]] = []
    left = amount_minor
    for lot in order:
        if left <= 0:
            break
        take = min(lot.remaining_minor, left)
        if take > 0:
            lot.remaining_minor -= take
            taken.append((lot.id, take))
            left -= take
    return taken


@dataclass(frozen=True)
class ExpiringLot:
    customer_id: int
    remaining_minor: int
    expires_at: datetime


@dataclass(frozen=True)
class Notice:
    customer_id: int
    expires_on: date
    amount_minor: int
    first_expires_at: datetime


def expiry_notices(lots: Iterable[ExpiringLot], now: datetime) -> list[Notice]:
    """One notice per customer and expiry date (UTC) with the total expiring that day; never for
    what has already expired."""
    grouped: dict[tuple[int, date], list[ExpiringLot]] = {}
    for lot in lots:
        if lot.remaining_minor > 0 and lot.expires_at > now:
            grouped.setdefault((lot.customer_id, lot.expires_at.date()), []).append(lot)
    return [
        Notice(
            customer_id,
            day,
            sum(lot.remaining_minor for lot in group),
            min(lot.expires_at for lot in group),
        )
        for (customer_id, day), group in sorted(grouped.items())
    ]
