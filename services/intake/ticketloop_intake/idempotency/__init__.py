"""Idempotency keys: a retried request returns the first response and changes nothing."""
