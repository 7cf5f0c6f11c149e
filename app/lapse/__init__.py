"""Lapse: each customer's own rhythm, activity status and the lapsed list."""
