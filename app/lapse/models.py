from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import Base, UTCDateTime, utcnow


class CategoryRhythm(Base):
    """What the shop's own data says about one category (the customers' main category, as the
    shop names it): refreshed with every model fit, and computed once on first need."""

    __tablename__ = "category_rhythms"

    category: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Customers whose main category this is, and those of them with two purchases or more.
    buyers: Mapped[int] = mapped_column(Integer)
    repeat_buyers: Mapped[int] = mapped_column(Integer)
    # Median over the repeat buyers of their median days between purchases.
    median_interval_days: Mapped[float | None] = mapped_column(Float, default=None)
    # Buyers in the latest 365 days of the shop's orders, and what they spent then.
    yearly_buyers: Mapped[int] = mapped_column(Integer, default=0)
    yearly_spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    learned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
