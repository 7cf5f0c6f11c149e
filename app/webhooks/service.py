"""Use cases of webhook management."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.db import utcnow
from app.core.errors import NotFound, Unprocessable
from app.core.pagination import Page, decode_cursor, encode_cursor
from app.core.settings import Settings
from app.webhooks import repository, signing, ssrf
from app.webhooks.models import WebhookEndpoint
from app.webhooks.schemas import (
    AttemptOut,
    BitrixPlan,
    DeliveryOut,
    EndpointCreated,
    EndpointIn,
    EndpointKind,
    EndpointOut,
    EndpointPatch,
    RotateOut,
)


class UnsafeUrl(Unprocessable):
    slug, title = "unsafe-webhook-url", "Webhook URL not allowed"


async def _check_url(url: str, settings: Settings) -> None:
    try:
        await ssrf.check(url, settings.webhook_allow_private)
    except ssrf.UnsafeTarget as exc:
        raise UnsafeUrl(
            f"{exc}. Private and loopback targets need TOUCHPOINT_WEBHOOK_ALLOW_PRIVATE=true."
        ) from exc


def out(e: WebhookEndpoint) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        url=e.url,
        kind=e.kind,
        event_types=list(e.event_types or []),
        description=e.description,
        enabled=e.enabled,
        disabled_reason=e.disabled_reason,
        rate_limit_per_second=e.rate_limit_per_second,
        bitrix_plan=e.bitrix_plan,
        failing_since=e.failing_since,
        created_at=e.created_at,
    )


async def create(session: AsyncSession, settings: Settings, body: EndpointIn) -> EndpointCreated:
    url = str(body.url)
    await _check_url(url, settings)
    e = WebhookEndpoint(
        url=url,
        kind=body.kind.value,
        event_types=sorted(set(body.event_types)),
        description=body.description,
        enabled=body.enabled,
        secret=signing.new_secret(),
        rate_limit_per_second=body.rate_limit_per_second,
        bitrix_plan=(body.bitrix_plan or BitrixPlan.STANDARD).value
        if body.kind == EndpointKind.BITRIX24
        else None,
    )
    session.add(e)
    await session.flush()
    return EndpointCreated(**out(e).model_dump(), secret=e.secret)


async def get(session: AsyncSession, endpoint_id: int) -> WebhookEndpoint:
    e = await session.get(WebhookEndpoint, endpoint_id)
    if e is None:
        raise NotFound(f"No webhook endpoint {endpoint_id}.")
    return e


async def listing(session: AsyncSession, limit: int, cursor: str | None) -> Page[EndpointOut]:
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.id).limit(limit + 1)
    if cursor:
        (after,) = decode_cursor(cursor, int)
        stmt = stmt.where(WebhookEndpoint.id > int(after))
    rows = list(await session.scalars(stmt))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[EndpointOut](
        items=[out(e) for e in rows], next_cursor=encode_cursor([rows[-1].id]) if more else None
    )


async def patch(
    session: AsyncSession, settings: Settings, endpoint_id: int, body: EndpointPatch
) -> EndpointOut:
    e = await get(session, endpoint_id)
    fields = body.model_fields_set
    if "url" in fields and body.url is not None:
        await _check_url(str(body.url), settings)
        e.url = str(body.url)
    if "event_types" in fields and body.event_types is not None:
        e.event_types = sorted(set(body.event_types))
    if "description" in fields:
        e.description = body.description
    if "rate_limit_per_second" in fields:
        e.rate_limit_per_second = body.rate_limit_per_second
    if "bitrix_plan" in fields and body.bitrix_plan is not None:
        if e.kind != EndpointKind.BITRIX24:
            raise Unprocessable("bitrix_plan applies to bitrix24 endpoints only.")
        e.bitrix_plan = body.bitrix_plan.value
    if "enabled" in fields and body.enabled is not None:
        e.enabled = body.enabled
        if body.enabled:
            e.disabled_reason, e.failing_since = None, None
    await session.flush()
    return out(e)


async def delete(session: AsyncSession, endpoint_id: int) -> None:
    await session.delete(await get(session, endpoint_id))


async def rotate(session: AsyncSession, endpoint_id: int, grace_seconds: int) -> RotateOut:
    e = await get(session, endpoint_id)
    until = utcnow() + timedelta(seconds=grace_seconds)
    e.previous_secret, e.previous_secret_until = e.secret, until
    e.secret = signing.new_secret()
    return RotateOut(secret=e.secret, previous_secret_valid_until=until)


async def deliveries(
    session: AsyncSession, endpoint_id: int, status: str | None, limit: int, cursor: str | None
) -> Page[DeliveryOut]:
    await get(session, endpoint_id)
    after = int(decode_cursor(cursor, int)[0]) if cursor else None
    rows = await repository.deliveries_of(session, endpoint_id, status, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[DeliveryOut](
        items=[
            DeliveryOut(
                message_id=m.message_id,
                type=m.type,
                status=d.status,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                created_at=d.created_at,
                delivered_at=d.delivered_at,
            )
            for d, m in rows
        ],
        next_cursor=encode_cursor([rows[-1][0].id]) if more else None,
    )


async def attempts(session: AsyncSession, endpoint_id: int, message_id: str) -> list[AttemptOut]:
    d = await repository.delivery_by_message(session, endpoint_id, message_id)
    if d is None:
        raise NotFound(f"Message {message_id!r} was not sent to endpoint {endpoint_id}.")
    return [
        AttemptOut(
            attempted_at=a.attempted_at,
            status_code=a.status_code,
            error=a.error,
            duration_ms=a.duration_ms,
            response_excerpt=a.response_excerpt,
        )
        for a in await repository.attempts_of(session, d.id)
    ]


async def resend(session: AsyncSession, endpoint_id: int, message_id: str) -> None:
    d = await repository.delivery_by_message(session, endpoint_id, message_id)
    if d is None:
        raise NotFound(f"Message {message_id!r} was not sent to endpoint {endpoint_id}.")
    d.status, d.next_attempt_at, d.attempts = "pending", utcnow(), 0


async def recover(session: AsyncSession, endpoint_id: int, since: datetime) -> int:
    await get(session, endpoint_id)
    failed = await repository.failed_since(session, endpoint_id, since)
    now = utcnow()
    for d in failed:
        d.status, d.next_attempt_at, d.attempts = "pending", now, 0
    return len(failed)
