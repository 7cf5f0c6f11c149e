"""Customers: profiles and the per-customer aggregates every other answer reads."""
