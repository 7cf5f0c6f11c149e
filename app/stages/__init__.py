"""The loyalty ladder: stages, their reasons, history and the retention pyramid."""
