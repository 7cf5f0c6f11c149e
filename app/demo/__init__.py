"""A realistic synthetic shop for trying every endpoint."""
