"""Background work: whatever depends on the passing of time or leaves the service."""
