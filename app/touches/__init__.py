"""Touches: the next recommended contact, playbooks, guardrails and the CRM work queue."""
