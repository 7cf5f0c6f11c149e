"""Analytics for the dashboard: the LTV histogram and monthly retention cohorts."""
