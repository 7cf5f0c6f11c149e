"""Keyset pagination: `{"items": [...], "next_cursor": "…" | null}` with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from app.core import inputs
from app.core.errors import InvalidCursor

T = TypeVar("T")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CursorPart = type[int] | type[datetime]
_INT64 = range(-(2**63), 2**63)
_NOT_OURS = "The cursor is not one this API issued."


def decode_cursor(cursor: str, *kinds: CursorPart) -> list[Any]:
    """The key of a cursor made by `encode_cursor`, one value per kind (`int`, or `datetime`
    for a time written with `isoformat()`); anything else is the caller's 400.

    Every value is checked, not only the shape: a 64-bit integer (not a boolean, a float or
    1e30), a time in the accepted range. So a cursor the API did not issue never reaches a
    query, where it would fail as a 500."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursor(_NOT_OURS) from exc
    if not isinstance(key, list) or len(key) != len(kinds):
        raise InvalidCursor(_NOT_OURS)
    return [_part(value, kind) for value, kind in zip(key, kinds, strict=True)]


def _part(value: Any, kind: CursorPart) -> Any:
    if kind is int:
        if type(value) is int and value in _INT64:
            return value
        raise InvalidCursor(_NOT_OURS)
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidCursor(_NOT_OURS)
    try:
        at = datetime.fromisoformat(value)
        inputs.instant(at)
    except ValueError as exc:
        raise InvalidCursor(_NOT_OURS) from exc
    return at


Limit = Annotated[
    int, Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, at most {MAX_PAGE_SIZE}.")
]
Cursor = Annotated[
    str | None,
    Query(max_length=512, description="`next_cursor` of the previous page."),
]
