"""Rows queued with `queue_rows` behave like rows written at once, inside one transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from app.core.db import queue_rows
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


async def test_queued_rows_keep_their_types_and_need_every_column(app: Any) -> None:
    at = datetime(2025, 3, 1, 12, 30, tzinfo=UTC)
    async with app.state.db.sessionmaker() as s, s.begin():
        queue_rows(
            s,
            OutboxMessage,
            [
                {
                    "message_id": "msg_typed",
                    "type": "test.message",
                    "customer_id": None,
                    "payload": {"amount": "1.50", "tags": ["a"]},
                    "created_at": at,
                    "dispatched_at": None,
                }
            ],
        )
        stored = await s.scalar(
            select(OutboxMessage).where(OutboxMessage.message_id == "msg_typed")
        )
        assert stored is not None
        assert (stored.payload, stored.created_at, stored.customer_id) == (
            {"amount": "1.50", "tags": ["a"]},
            at,
            None,
        )
    async with app.state.db.sessionmaker() as s:
        with pytest.raises(ValueError, match="created_at"):
            async with s.begin():
                queue_rows(s, OutboxMessage, [{"message_id": "m", "type": "t", "payload": {}}])
                await count(s)
