"""Rows queued with `queue_rows` behave like rows written at once, inside one transaction."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.outbox import OutboxMessage, emit


async def count(session: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(OutboxMessage)))


async def test_queued_rows_are_seen_by_the_next_query_and_committed(app: Any) -> None:
    async with app.state.db.sessionmaker() as s, s.begin():
        ids = [await emit(s, "test.message", {"n": i}, f"c{i}") for i in range(3)]
        assert await count(s) == 3
        ids.append(await emit(s, "test.message", {"n": 3}))
    async with app.state.db.sessionmaker() as s:
        stored = (await s.scalars(select(OutboxMessage.message_id))).all()
    assert sorted(stored) == sorted(ids)
    assert len(set(ids)) == 4


async def test_a_rollback_forgets_queued_rows(app: Any) -> None:
    async with app.state.db.sessionmaker() as s:
        with pytest.raises(RuntimeError):
            async with s.begin():
                await emit(s, "test.message", {"n": 1})
                raise RuntimeError("abandon the transaction")
        # The same session, a new transaction: only what was queued in it is written.
        async with s.begin():
            await emit(s, "test.message", {"n": 2})
    async with app.state.db.sessionmaker() as s:
        payloads = (await s.scalars(select(OutboxMessage.payload))).all()
    assert payloads == [{"n": 2}]
