"""History import: order histories from CSV (1C exports included) and JSON lines."""
