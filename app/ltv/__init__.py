"""LTV: BG/NBD and Gamma-Gamma models, per-customer predictions and the LTV answer."""
