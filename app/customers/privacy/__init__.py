"""A customer's rights over their data: erasure (152-FZ, GDPR art. 17) and export (art. 15/20)."""
