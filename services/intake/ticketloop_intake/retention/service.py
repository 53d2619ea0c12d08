"""intake's retention schedule: each class of data it holds, when its limit starts counting, and
whether it is erased in place or deleted (settings `TICKETLOOP_INTAKE_RETAIN_*`, 0 = forever).

- `closed_ticket_texts`: a closed ticket's personal texts (subject, description, the customer's
  name and contact, every message, reply and note, attached files, search tokens) are erased in
  place `retain_closed_ticket_texts_days` after closing. The ticket, its timeline entries and
  its facts stay, so reports still count it.
- `customer_keys`: a customer's key is destroyed once every ticket of theirs has been closed that
  long (nothing sealed with it is kept any longer); a new ticket gets a new key.
- `webhook_deliveries`: a delivery (its payload and attempt log) is deleted
  `retain_webhook_deliveries_days` after it was delivered, given up or withdrawn.
- `audit_entries`: audit log entries are deleted `retain_audit_days` after they were written.

Idempotency keys (`idempotency_ttl_hours`) and the outbox (`TICKETLOOP_OUTBOX_RETENTION_HOURS`)
have purges of their own; the inbox holds event ids only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_intake.db import audit
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.tickets import service as tickets
from ticketloop_intake.webhooks import service as webhooks
from ticketloop_shared.retention import DataClass, Found, audit_class


async def _closed_texts(session: AsyncSession, cutoff: datetime) -> Found:
    return Found(*await tickets.closed_texts_due(session, cutoff))


async def _erase_closed_texts(session: AsyncSession, cutoff: datetime, limit: int, now: datetime) -> int:
    return await tickets.erase_closed_texts(session, cutoff, limit=limit, now=now)


async def _quiet_keys(session: AsyncSession, cutoff: datetime) -> Found:
    return Found(*await tickets.quiet_customers_due(session, cutoff))


async def _retire_keys(session: AsyncSession, cutoff: datetime, limit: int, now: datetime) -> int:
    return await tickets.retire_quiet_keys(session, cutoff, limit=limit, now=now)


async def _deliveries(session: AsyncSession, cutoff: datetime) -> Found:
    return Found(*await webhooks.finished_deliveries_due(session, cutoff))


async def _delete_deliveries(session: AsyncSession, cutoff: datetime, limit: int, now: datetime) -> int:
    return await webhooks.delete_finished_deliveries(session, cutoff, limit=limit)


# Texts before keys: a customer's key goes only once their texts are erased anyway.
CLASSES: list[DataClass[IntakeSettings]] = [
    DataClass(
        name="closed_ticket_texts",
        action="erase",
        setting="TICKETLOOP_INTAKE_RETAIN_CLOSED_TICKET_TEXTS_DAYS",
        days=lambda s: s.retain_closed_ticket_texts_days,
        find=_closed_texts,
        apply=_erase_closed_texts,
        description="closed tickets' personal texts, messages, replies, notes and files (by closing date)",
    ),
    DataClass(
        name="customer_keys",
        action="delete",
        setting="TICKETLOOP_INTAKE_RETAIN_CLOSED_TICKET_TEXTS_DAYS",
        days=lambda s: s.retain_closed_ticket_texts_days,
        find=_quiet_keys,
        apply=_retire_keys,
        description="keys of customers whose every ticket closed that long ago (by last closing)",
    ),
    DataClass(
        name="webhook_deliveries",
        action="delete",
        setting="TICKETLOOP_INTAKE_RETAIN_WEBHOOK_DELIVERIES_DAYS",
        days=lambda s: s.retain_webhook_deliveries_days,
        find=_deliveries,
        apply=_delete_deliveries,
        description="finished webhook deliveries with their payloads and attempt logs (by creation)",
    ),
    audit_class(audit, days=lambda s: s.retain_audit_days, setting="TICKETLOOP_INTAKE_RETAIN_AUDIT_DAYS"),
]
