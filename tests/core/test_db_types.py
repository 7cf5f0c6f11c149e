from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from app.core.db import UTCDateTime

MOSCOW = timezone(timedelta(hours=3))
VALUES = [
    datetime(2025, 1, 5, 10, 15, tzinfo=UTC),
    datetime(2025, 1, 5, 10, 15, 0, 1, tzinfo=UTC),
    datetime(2024, 2, 29, 23, 59, 59, 999_999, tzinfo=MOSCOW),
    datetime(1, 1, 1, 12, tzinfo=UTC),
    datetime(999, 12, 31, 0, 0, tzinfo=UTC),
    datetime(9999, 12, 31, 20, 59, 59, tzinfo=timezone(timedelta(hours=-2, minutes=-30))),
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_sqlite_text_is_what_the_generic_processor_writes(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    column = UTCDateTime().dialect_impl(dialect)
    fast = column.bind_processor(dialect)
    generic = TypeDecorator.bind_processor(column, dialect)
    assert fast is not None and generic is not None
    assert fast(value) == generic(value)
    if value is not None:
        result: Any = column.result_processor(dialect, None)
        assert result(fast(value)) == value


def test_sqlite_text_refuses_naive_times() -> None:
    dialect = sqlite.dialect()
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2025, 1, 5, 10, 15))
