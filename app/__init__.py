"""Touchpoint: a retention engine behind a JSON API."""

__version__ = "0.1.0"
