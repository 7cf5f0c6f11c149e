"""The one settings class. Every value comes from a `TOUCHPOINT_`-prefixed environment variable."""

from __future__ import annotations

from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.cashback.rules import CashbackRules
from app.cashback.tokens import configured_keys
from app.lapse.categories import CategoryClasses
from app.lapse.rhythm import LapseRules
from app.stages.rules import StageRules
from app.touches.planner import TouchRules

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/touchpoint.db"

DEFAULT_CATEGORY_RHYTHM_DAYS: dict[str, float] = {
    "coffee": 2.0,
    "groceries": 7.0,
    "pet_food": 30.0,
    "cosmetics": 45.0,
    "books": 60.0,
    "clothing": 90.0,
    "electronics": 365.0,
    "furniture": 365.0,
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOUCHPOINT_", env_file=None, extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    # Pool sizing matters only for PostgreSQL; SQLite uses one writer anyway.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=10, ge=0, le=200)
    db_echo: bool = False

    currency: str = Field(default="RUB", pattern=r"^[A-Z]{3}$")
    # The shop's time zone: weekdays of the customers' rhythm and the dashboard's clock.
    timezone: str = Field(default="Europe/Moscow", max_length=64)
    # Language of texts meant for people (labels, reasons): "ru" or "en".
    locale: Literal["ru", "en"] = "ru"
    # Events whose occurred_at lies further in the future than this are refused (clock skew).
    max_future_skew_seconds: int = Field(default=300, ge=0)
    max_batch_events: int = Field(default=1000, ge=1, le=10_000)

    # Customer tokens for mobile apps are JWTs. HS256 signs with `token_secret`; without it a
    # random secret is generated once and kept in the database (never a constant). EdDSA or
    # RS256 sign with a configured private key (PEM, inline or in a file) and publish the
    # public key at /.well-known/jwks.json.
    token_secret: str | None = Field(default=None, min_length=32)
    customer_token_algorithm: Literal["HS256", "EdDSA", "RS256"] = "HS256"
    customer_token_private_key: str | None = None
    customer_token_private_key_file: Path | None = None
    customer_token_audience: str = Field(default="touchpoint-customer", min_length=1)
    customer_token_issuer: str | None = None
    customer_token_ttl_seconds: int = Field(default=3600, ge=60, le=30 * 86400)

    webhook_allow_private: bool = False
    # Seconds before each attempt: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10 %).
    webhook_retry_schedule_seconds: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    webhook_lease_seconds: float = Field(default=120.0, gt=0)
    # How long one worker pass waits for its delivery lanes; a slower lane goes on in the
    # background and only its own endpoint waits for it.
    webhook_round_seconds: float = Field(default=0.5, gt=0, le=60)
    # An endpoint failing without a single success for this long is disabled.
    webhook_disable_after_hours: float = Field(default=120.0, gt=0)
    # Bitrix24: requests per second per portal unless the endpoint says otherwise; and from
    # which yearly value a lapsed customer gets a win-back deal.
    bitrix_rate_limit_per_second: float = Field(default=2.0, gt=0)
    bitrix_deal_min_value: float = Field(default=10000.0, ge=0)
    # A to-do's deadline falls in these hours of the customer's time zone, on these ISO
    # weekdays (Monday 1); reminders this many minutes before it.
    bitrix_workday_start: time = time(9, 0)
    bitrix_workday_end: time = time(18, 0)
    bitrix_workdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5], min_length=1)
    bitrix_ping_offsets_minutes: list[int] = Field(default_factory=lambda: [0, 15])
    worker_poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    # Customers derived per projection transaction: larger batches amortise the set-based
    # queries of each step; smaller ones hold fewer row locks for less time.
    # Verified API keys are remembered this long in each process (a revoked key stops
    # working within it); 0 looks every request's key up.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    projection_batch_customers: int = Field(default=500, ge=1, le=50_000)

    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    # Request bodies above this are refused with 413 (a full batch is well below).
    max_body_bytes: int = Field(default=5_000_000, ge=1024)
    # Per API key (or token): sustained requests per second and burst; 0 turns the limit off.
    # Per process unless `redis_url` is set: then every replica shares the same buckets.
    rate_limit_per_second: float = Field(default=50.0, ge=0)
    rate_limit_burst: int = Field(default=200, ge=1)
    # redis://[:password@]host:port/db — shared rate-limit buckets across replicas.
    redis_url: str | None = None
    # A bearer token that may read /metrics (and nothing else), for Prometheus; an API key
    # with the admin scope may read it too.
    metrics_token: str | None = Field(default=None, min_length=16)

    # Usual days between purchases per product category, used while a customer's own history
    # is too short to tell their rhythm (coffee and furniture differ by two orders of magnitude).
    # Override with JSON: TOUCHPOINT_CATEGORY_RHYTHM_DAYS='{"coffee": 2, "furniture": 365}'.
    category_rhythm_days: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CATEGORY_RHYTHM_DAYS)
    )
    default_rhythm_days: float = Field(default=30.0, gt=0)

    # Thresholds of the loyalty ladder (JSON: TOUCHPOINT_STAGES='{"regular_min_purchases": 4}').
    stages: StageRules = Field(default_factory=StageRules)

    # Rhythm and activity status (JSON: TOUCHPOINT_LAPSE='{"at_risk_factor": 2}').
    lapse: LapseRules = Field(default_factory=LapseRules)

    # Cashback rules (JSON: TOUCHPOINT_CASHBACK='{"expiry_days": 180}').
    cashback: CashbackRules = Field(default_factory=CashbackRules)

    # Playbooks, reasons and guardrails of the touch planner (JSON: TOUCHPOINT_TOUCHES).
    touches: TouchRules = Field(default_factory=TouchRules)

    # LTV: predicted value is discounted at this annual rate; the worker refits the models
    # when the current fit is older than `ltv_refit_hours`.
    ltv_annual_discount_rate: float = Field(default=0.10, ge=0, le=1)
    ltv_default_horizon_days: int = Field(default=365, ge=1, le=3650)
    ltv_refit_hours: float = Field(default=24.0, gt=0)
    # Purchase model: "auto" takes the one with the lowest holdout error on the latest
    # back-test (BG/NBD until there is one); "bgnbd", "mbgnbd" or "paretonbd" forces it.
    ltv_model: Literal["auto", "bgnbd", "mbgnbd", "paretonbd"] = "auto"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {v!r}") from exc
        return v

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.customer_token_algorithm != "HS256" and not (
            self.customer_token_private_key or self.customer_token_private_key_file
        ):
            raise ValueError(
                f"TOUCHPOINT_CUSTOMER_TOKEN_ALGORITHM={self.customer_token_algorithm} needs "
                "TOUCHPOINT_CUSTOMER_TOKEN_PRIVATE_KEY or _PRIVATE_KEY_FILE (PEM)"
            )
        if self.customer_token_algorithm != "HS256":
            # Load the key pair now: a wrong key or path fails at start-up, not at first use.
            configured_keys(
                self.customer_token_algorithm,
                self.customer_token_private_key,
                self.customer_token_private_key_file,
            )
        if not self.bitrix_workday_start < self.bitrix_workday_end:
            raise ValueError("TOUCHPOINT_BITRIX_WORKDAY_START must come before _END")
        if not set(self.bitrix_workdays) <= set(range(1, 8)):
            raise ValueError("TOUCHPOINT_BITRIX_WORKDAYS are ISO weekdays, 1 to 7")
        if self.env == "production":
            if self.metrics_token is not None and len(self.metrics_token) < 32:
                raise ValueError(
                    "TOUCHPOINT_METRICS_TOKEN must be a random string of at least 32 characters "
                    "in production"
                )
            if self.webhook_allow_private:
                raise ValueError("TOUCHPOINT_WEBHOOK_ALLOW_PRIVATE must be false in production")
        return self

    def rhythm_days(self, category: str | None) -> float:
        """The usual days between purchases for a category as the shop names it ("Кофе",
        "Мебель/Диваны": see app/lapse/categories.py); the default for unknown ones."""
        cls = CategoryClasses(self.lapse.category_map).rhythm_class(
            category, self.category_rhythm_days
        )
        return self.default_rhythm_days if cls is None else self.category_rhythm_days[cls]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
