"""Shared plumbing: settings, database, auth, errors, outbox."""
