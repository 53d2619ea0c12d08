"""Masking of contact details, for everything that leaves a store (responses, events, logs)."""

from __future__ import annotations


def mask_contact(value: str | None) -> str | None:
    """`jane.doe@example.com` → `j*******@example.com`; `+86 138 0013 8000` → `*********8000`."""
    if not value:
        return value
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}{'*' * max(len(local) - 1, 3)}@{domain}"
    keep = 4 if len(value) > 6 else 1
    return "*" * (len(value) - keep) + value[-keep:]
