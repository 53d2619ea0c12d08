"""Webhooks: subscriptions, signed deliveries with retries, the delivery log and replay."""
