"""Kafka plumbing: producer, topics, transactional outbox and relay, idempotent consumer."""
