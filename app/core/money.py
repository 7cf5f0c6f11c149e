"""Money travels as decimal strings ("1500.00") and is stored as integer minor units (kopecks)."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema

MINOR_PER_UNIT = 100
MAX_AMOUNT = Decimal("1000000000000")  # 10^12 units: beyond any real order
CENT = Decimal("0.01")


def to_minor(amount: Decimal) -> int:
    return int((amount * MINOR_PER_UNIT).to_integral_value(ROUND_HALF_EVEN))


def from_minor(minor: int) -> Decimal:
    return (Decimal(minor) / MINOR_PER_UNIT).quantize(CENT)


def format_minor(minor: int) -> str:
    return str(from_minor(minor))


def _parse_amount(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError('amount must be a decimal string such as "1500.00"')
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise ValueError('amount must be a decimal string such as "1500.00"') from exc
    if not amount.is_finite():
        raise ValueError("amount must be a finite number")
    if amount.copy_abs() >= MAX_AMOUNT:
        raise ValueError("amount is too large")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_EVEN):
        raise ValueError("amount has more than 2 decimal places")
    return amount.quantize(CENT)


def _positive(amount: Decimal) -> Decimal:
    if amount <= 0:
        raise ValueError("amount must be greater than zero")
    return amount


_MONEY_SCHEMA = {
    "type": "string",
    "pattern": r"^-?\d{1,12}(\.\d{1,2})?$",
    "examples": ["1500.00"],
    "description": "Decimal amount in the deployment's currency, as a string.",
}
_POSITIVE_SCHEMA = {**_MONEY_SCHEMA, "pattern": r"^\d{1,12}(\.\d{1,2})?$"}

# Input: a positive decimal with at most two places (string preferred; a JSON number is accepted).
PositiveMoney = Annotated[
    Decimal,
    BeforeValidator(lambda v: _positive(_parse_amount(v))),
    WithJsonSchema(_POSITIVE_SCHEMA),
]


def _not_negative(amount: Decimal) -> Decimal:
    if amount < 0:
        raise ValueError("amount must not be negative")
    return amount


# Input: zero or more (a gift or a fully discounted order is still a purchase).
NonNegativeMoney = Annotated[
    Decimal,
    BeforeValidator(lambda v: _not_negative(_parse_amount(v))),
    WithJsonSchema(_POSITIVE_SCHEMA),
]
# Output: always a string with two places.
MoneyOut = Annotated[
    Decimal,
    PlainSerializer(lambda d: str(Decimal(d).quantize(CENT)), return_type=str),
    WithJsonSchema(_MONEY_SCHEMA),
    Field(),
]
