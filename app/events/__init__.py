"""Event ingestion: the seven event types, idempotent, one by one or in batches."""
