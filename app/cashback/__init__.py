"""Cashback: an append-only ledger, referral bonuses, redemptions and the mobile app's view."""
