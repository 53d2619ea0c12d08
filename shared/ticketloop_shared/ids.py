"""Identifiers: UUIDv7, so keys sort by creation time and index well."""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    """Return a fresh time-ordered UUID (version 7)."""
    return uuid.UUID(bytes=uuid6.uuid7().bytes)
