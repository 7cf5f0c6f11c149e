"""Every model, imported so that `Base.metadata` (and so Alembic) sees the whole schema."""

from app.auth.models import ApiKey, CustomerToken, InstanceSecret
from app.cashback.models import CashbackEntry, Redemption
from app.core.db import Base
from app.core.outbox import OutboxMessage
from app.customers.models import Customer, Order
from app.events.models import Event
from app.lapse.models import CategoryRhythm
from app.ltv.models import CustomerPrediction, ModelFit
from app.projection.models import PendingMark
from app.stages.models import StageChange
from app.touches.models import Announcement, Touch
from app.webhooks.models import Attempt, BitrixContact, Delivery, WebhookEndpoint

__all__ = [
    "Announcement",
    "ApiKey",
    "Attempt",
    "Base",
    "BitrixContact",
    "CashbackEntry",
    "CategoryRhythm",
    "Customer",
    "CustomerPrediction",
    "CustomerToken",
    "Delivery",
    "Event",
    "InstanceSecret",
    "ModelFit",
    "Order",
    "OutboxMessage",
    "PendingMark",
    "Redemption",
    "StageChange",
    "Touch",
    "WebhookEndpoint",
]
