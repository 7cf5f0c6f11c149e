"""Use cases of announcements: what changes and when, told to the customers it concerns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.core.settings import Settings
from app.touches import repository, service
from app.touches.models import Announcement
from app.touches.schemas import AnnouncementIn, AnnouncementOut, AnnouncementPatch


def _out(a: Announcement) -> AnnouncementOut:
    return AnnouncementOut(
        id=a.id,
        title=a.title,
        details=a.details,
        effective_at=a.effective_at,
        categories=list(a.categories or []),
        stages=list(a.stages or []),
        revision=a.revision,
        created_at=a.created_at,
        updated_at=a.updated_at,
    )


async def _get(session: AsyncSession, announcement_id: int) -> Announcement:
    a = await repository.announcement(session, announcement_id)
    if a is None:
        raise NotFound(f"No announcement {announcement_id}.")
    return a


async def add(
    session: AsyncSession, settings: Settings, body: AnnouncementIn, now: datetime
) -> AnnouncementOut:
    a = Announcement(
        title=body.title,
        details=body.details,
        effective_at=body.effective_at,
        categories=list(body.categories),
        stages=list(body.stages),
        revision=1,
        created_at=now,
    )
    session.add(a)
    await session.flush()
    await service.replan(session, settings, await repository.audience(session, a), now)
    return _out(a)


async def page(session: AsyncSession, limit: int, cursor: str | None) -> Page[AnnouncementOut]:
    after = None
    if cursor:
        (after,) = decode_cursor(cursor, int)
    rows = await repository.announcement_page(session, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AnnouncementOut](
        items=[_out(a) for a in rows],
        next_cursor=encode_cursor([rows[-1].id]) if more else None,
    )


async def correct(
    session: AsyncSession,
    settings: Settings,
    announcement_id: int,
    body: AnnouncementPatch,
    now: datetime,
) -> AnnouncementOut:
    """Change what is announced; touches carrying the old words are replaced."""
    a = await _get(session, announcement_id)
    changes = body.model_dump(exclude_unset=True)
    for required in ("title", "effective_at"):
        if changes.get(required, "") is None:
            changes.pop(required)
    changed = False
    for name, value in changes.items():
        value = list(value) if isinstance(value, list) else value
        if getattr(a, name) != value:
            setattr(a, name, value)
            changed = True
    if changed:
        a.revision, a.updated_at = a.revision + 1, now
        await session.flush()
        await service.replan(session, settings, await repository.audience(session, a), now)
    return _out(a)


async def cancel(
    session: AsyncSession, settings: Settings, announcement_id: int, now: datetime
) -> None:
    """Withdraw an announcement: its open touches are cancelled, their customers re-planned."""
    a = await _get(session, announcement_id)
    audience = await repository.audience(session, a)
    holding = await repository.planned_of_many(session, [c.id for c in audience])
    by_pk = {c.id: c for c in audience}
    for pk, t in holding.items():
        if t.reason_key == f"announce:{a.id}":
            await service.end(session, t, by_pk[pk].external_id, now, "announcement_cancelled")
    await session.delete(a)
    await session.flush()
    await service.replan(session, settings, audience, now)
