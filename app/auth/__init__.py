"""API keys, scopes and the principal behind each request."""
