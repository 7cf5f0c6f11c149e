"""Webhooks: endpoint management, fan-out of the outbox, signed and retried delivery, Bitrix24."""
