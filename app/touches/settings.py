"""Settings of the touches domain: calendars of the playbooks, guardrails, the shop's texts.

JSON in `TOUCHPOINT_TOUCHES`, e.g. '{"cap_per_week": 2, "care_window_days": 45}'.
"""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, Field

from app.touches.catalogue import Text
from app.touches.playbooks import DEFAULT_PLAYBOOK_REASONS


class TouchRules(BaseModel):
    nurture_days: list[float] = Field(
        default=[2, 7, 13, 21, 24, 27, 29],
        description="Days after the first contact: 7 touches, 4 of them in days 21–30.",
    )
    nurture_window_days: float = Field(default=30, gt=0)
    second_cycle_every_days: float = Field(default=30, gt=0)
    care_days: list[float] = Field(default=[1, 3, 14], description="After the first purchase.")
    care_window_days: float = Field(
        default=30, gt=0, description="No care touch later than this after the first purchase."
    )
    regular_every_days: float = Field(default=30, gt=0)
    lost_every_days: float = Field(
        default=90, gt=0, description="The slow rhythm of a lost customer after the final win-back."
    )
    win_back_every_days: float = Field(default=14, gt=0)
    referral_ask_every_days: float = Field(default=90, gt=0)
    announcement_notice_days: float = Field(default=7, ge=0)
    touch_lifetime_days: float = Field(
        default=3,
        gt=0,
        description="A touch not done this long after its due time expires; its calendar "
        "moves on to the next step.",
    )
    cap_per_week: int = Field(default=3, ge=1)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    default_timezone: str = "Europe/Moscow"
    # Business customers (a `company` in the profile): working days (ISO, Monday = 1) and hours.
    work_days: list[int] = Field(default=[1, 2, 3, 4, 5], min_length=1)
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    complaint_pause_days: float = Field(default=30, ge=0)
    paper_mail_min_age: int = 50
    playbook_reasons: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_PLAYBOOK_REASONS.items()}
    )
    texts: dict[str, Text] = Field(
        default_factory=dict,
        description="The shop's own words, replacing catalogue entries key by key.",
    )
