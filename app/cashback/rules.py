"""Cashback rules (pure): how much a purchase earns, how lots are spent, clawed back, expired."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import BaseModel, Field

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
    """Defaults; override with TOUCHPOINT_CASHBACK='{"expiry_days": 180}'."""

    earn_rates: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_EARN_RATES),
        description="Share of the purchase amount earned, by stage: higher stages earn more.",
    )
    referral_bonus_minor: int = Field(default=50_000, ge=0, description="To the referrer (500.00).")
    welcome_bonus_minor: int = Field(default=30_000, ge=0, description="To the referred (300.00).")
    expiry_days: int = Field(default=365, ge=1, description="Each earned lot expires after this.")
    expiring_notice_days: int = Field(
        default=30, ge=0, description="cashback.expiring goes out this long before expiry."
    )
    refund_window_days: int = Field(
        default=14,
        ge=0,
        description="Cashback this young is shown as pending: a refund may take it back.",
    )

    def rate(self, stage: str) -> float:
        return self.earn_rates.get(stage, self.earn_rates.get("buyer", 0.0))


def earned_on(amount_minor: int, rate: float) -> int:
    """Cashback for a purchase, rounded down to the kopeck (never more than promised)."""
    return int(amount_minor * rate)


def clawback_for(
    earned_minor: int, order_amount_minor: int, refund_minor: int, already_clawed_minor: int
) -> int:
    """What a refund takes back: the refunded share of what the order earned.

    Computed on the cumulative refunded share, so several partial refunds take back exactly
    what one refund of their sum would.
    """
    if order_amount_minor <= 0 or earned_minor <= 0:
        return 0
    total = earned_minor * min(refund_minor, order_amount_minor) // order_amount_minor
    return max(total - already_clawed_minor, 0)


@dataclass
class Lot:
    id: int
    remaining_minor: int
    expires_at: datetime
    order_id: str | None = None


def spend(
    lots: list[Lot], amount_minor: int, prefer_order: str | None = None
) -> list[tuple[int, int]]:
    """Take `amount_minor` from lots, the order's own lot first (for clawbacks), then the
    oldest-expiring first. Returns (lot id, taken) pairs; takes at most what the lots hold."""
    order = sorted(
        lots,
        key=lambda lot: (
            lot.order_id != prefer_order if prefer_order else 0,
            lot.expires_at,
            lot.id,
        ),
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
