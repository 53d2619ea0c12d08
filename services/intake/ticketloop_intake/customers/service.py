"""Customers' keys: personal data is sealed with the customer's own key, opened only to render,
and erased by destroying the key. The tickets that hold the sealed values are tickets' business
(`tickets/service.py` erases and unmasks); this feature never reads them."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ticketloop_intake.customers import domain, repository
from ticketloop_intake.db import statements
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeUnit
from ticketloop_shared import sealing
from ticketloop_shared.notices import notify
from ticketloop_shared.state import ProcessState, Slot, state_of

log = logging.getLogger(__name__)
# What a reader sees where a value was erased (or its key destroyed).
ERASED = "[erased]"
# The first byte of a value stored unsealed (before sealing began), and what erasing one in place
# writes over it.
CLEAR_MARK = sealing.CLEAR
ERASED_VALUE = sealing.ERASED_VALUE
# How far back each process looks for erasures it may not have applied to its key cache yet.
ERASURE_LOOKBACK = timedelta(minutes=10)
# The change notice an erasure or a key's retirement sends (`ticketloop_shared.notices`), and
# what it sets in every intake process: the job dropping erased keys from its ring.
ERASURES_NOTICE = "ticketloop_erasures"
ERASURES_SEEN = Slot("customer keys erased", asyncio.Event)


def pseudonym_of(settings: IntakeSettings, reference: str) -> str:
    """The pseudonymous id intake stores and announces for the channel's customer `reference`."""
    return domain.pseudonym(settings.customer_pseudonym_key, reference)


def customer_ids_for(settings: IntakeSettings, value: str) -> tuple[str, ...]:
    """The stored customer ids a caller's `value` (a pseudonym, or a channel's reference) may
    stand for, the likelier first: staff may search or erase by either."""
    return domain.candidates(settings.customer_pseudonym_key, value)


class KeyRing:
    """Unwrapped data keys, per database, kept so the hot path does not ask for a known
    customer's key every time. An erasure sends a change notice; each process then re-reads
    recent erasures and drops those keys, so an erasure elsewhere holds here within about a
    second (a ticket sealed in that second with the destroyed key is as erased as the rest)."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._cache: dict[tuple[str, str], tuple[bytes | None, float]] = {}
        self._erasures_seen: dict[str, datetime] = {}

    async def drop_erased(self, engine: AsyncEngine, now: datetime) -> int:
        """Forget the keys of customers erased lately (by any process); how many were new."""
        db = str(engine.url)
        fresh = 0
        for customer_id, erased_at in await repository.erased_since(engine, now - ERASURE_LOOKBACK):
            if self._erasures_seen.get(f"{db}|{customer_id}") != erased_at:
                self._erasures_seen[f"{db}|{customer_id}"] = erased_at
                self._cache.pop((db, customer_id), None)
                fresh += 1
        cutoff = now - ERASURE_LOOKBACK
        self._erasures_seen = {k: v for k, v in self._erasures_seen.items() if v >= cutoff}
        return fresh

    @staticmethod
    def _db(session: AsyncSession) -> str:
        return str(session.get_bind().engine.url)

    def _fresh(self, slot: tuple[str, str], ttl: float) -> tuple[bytes | None, float] | None:
        hit = self._cache.get(slot)
        return hit if hit is not None and time.monotonic() - hit[1] < ttl else None

    def _keep(self, slot: tuple[str, str], key: bytes | None) -> None:
        self._cache.pop(slot, None)
        self._cache[slot] = (key, time.monotonic())
        while len(self._cache) > self.max_entries:
            self._cache.pop(next(iter(self._cache)))

    async def for_sealing(self, uow: IntakeUnit, customer_id: str) -> bytes:
        """The customer's key, created on their first ticket (committed at once, on its own: a
        key without a ticket is harmless, a ticket sealed with a key that lost a race is not)."""
        settings = uow.settings
        slot = (self._db(uow.session), customer_id)
        hit = self._fresh(slot, settings.customer_key_cache_seconds)
        if hit is not None and hit[0] is not None:
            return hit[0]
        master = settings.data_master_key
        for _ in range(3):  # a concurrent first ticket of the same customer can hide its key once
            new = sealing.new_key()
            wrapped = await repository.key_for(
                statements(uow), customer_id, wrapped_if_new=sealing.wrap(master, new, customer_id=customer_id)
            )
            if wrapped is not None:
                key = sealing.unwrap(master, wrapped, customer_id=customer_id)
                self._keep(slot, key)
                return key
        raise RuntimeError(f"could not create or read the key of customer {customer_id!r}")

    async def for_opening(
        self, session: AsyncSession, customer_ids: Sequence[str], settings: IntakeSettings
    ) -> dict[str, bytes | None]:
        """The keys of these customers; None for one whose data was erased."""
        db, ttl = self._db(session), settings.customer_key_cache_seconds
        found: dict[str, bytes | None] = {}
        missing = []
        for customer_id in set(customer_ids):
            hit = self._fresh((db, customer_id), ttl)
            if hit is None:
                missing.append(customer_id)
            else:
                found[customer_id] = hit[0]
        if missing:
            wrapped = await repository.keys(session, missing)
            for customer_id in missing:
                w = wrapped.get(customer_id)
                key = sealing.unwrap(settings.data_master_key, w, customer_id=customer_id) if w is not None else None
                self._keep((db, customer_id), key)
                found[customer_id] = key
        return found

    def forget(self, session: AsyncSession, customer_id: str) -> None:
        """Drop a destroyed key from this process at once."""
        self._cache.pop((self._db(session), customer_id), None)


_KEYS = Slot("customer keys", KeyRing)


async def key_for_sealing(uow: IntakeUnit, customer_id: str) -> bytes:
    """The customer's key to seal a new value with, created on their first ticket."""
    return await uow.state[_KEYS].for_sealing(uow, customer_id)


async def keys_for_opening(
    session: AsyncSession, customer_ids: Sequence[str], settings: IntakeSettings
) -> dict[str, bytes | None]:
    """The keys of these customers, from this process's ring; None for one whose data was erased."""
    return await state_of(session)[_KEYS].for_opening(session, customer_ids, settings)


async def drop_erased_keys(state: ProcessState, engine: AsyncEngine, now: datetime) -> int:
    """Forget the keys of customers erased lately (by any process) from this process's ring."""
    return await state[_KEYS].drop_erased(engine, now)


def seal_field(key: bytes, customer_id: str, field: str, value: str) -> bytes:
    """One personal value, sealed for its customer and column."""
    return sealing.seal(key, value, customer_id=customer_id, field=field)


def open_field(key: bytes | None, customer_id: str, field: str, blob: bytes | None) -> str | None:
    """One stored value in clear; None once it cannot be read any more (erased, or its key destroyed)."""
    return sealing.unseal(key, blob, customer_id=customer_id, field=field)


def seal_blob(key: bytes, customer_id: str, field: str, data: bytes) -> bytes:
    """One personal binary value (an attached file), sealed for its customer and column."""
    return sealing.seal_bytes(key, data, customer_id=customer_id, field=field)


def open_blob(key: bytes | None, customer_id: str, field: str, blob: bytes | None) -> bytes | None:
    """One stored binary value in clear; None once it cannot be read any more."""
    return sealing.unseal_bytes(key, blob, customer_id=customer_id, field=field)


def clear(note: str) -> bytes:
    """A text that is not personal (a system note), stored as it is."""
    return sealing.clear(note)


async def destroy_key(session: AsyncSession, customer_id: str, *, now: datetime) -> bool:
    """Destroy the customer's key, so every value sealed with it becomes unreadable, here at once
    and in every other process within about a second; False when there was no key."""
    destroyed = await repository.destroy_key(session, customer_id)
    await repository.record_erasure(session, customer_id, now)
    state_of(session)[_KEYS].forget(session, customer_id)
    await notify(session, ERASURES_NOTICE)
    return destroyed


async def is_erased(session: AsyncSession, customer_id: str) -> bool:
    """Whether the customer's personal data was erased (nobody may contact them on our own)."""
    return await repository.is_erased(session, customer_id)


# --- re-keying rows written before pseudonyms ---------------------------------------------------
# The sealed columns of a customer's rows and the field each is sealed as (a webhook delivery's
# payload is sealed per delivery).
_TICKET_FIELDS = {
    "subject": "subject",
    "description": "description",
    "customer_name": "name",
    "customer_contact": "contact",
}
_COUNTER_FIELDS = {"customer_name": "name"}
_ATTACHMENT_FIELDS = {"filename": "attachment_name"}
_ATTACHMENT_BLOB = ("content", "attachment")


@dataclass(frozen=True)
class _Rekey:
    """Moves one customer's sealed values from their old id (and key) to their pseudonym."""

    old_id: str
    new_id: str
    old_key: bytes | None
    new_key: bytes | None

    def text(self, blob: bytes | None, field: str) -> bytes | None:
        if not blob or blob[0] != sealing.SEALED or self.old_key is None or self.new_key is None:
            return blob  # clear, erased, or unreadable already: as it is
        value = sealing.unseal(self.old_key, blob, customer_id=self.old_id, field=field)
        return blob if value is None else sealing.seal(self.new_key, value, customer_id=self.new_id, field=field)

    def binary(self, blob: bytes | None, field: str) -> bytes | None:
        if not blob or blob[0] != sealing.SEALED or self.old_key is None or self.new_key is None:
            return blob
        data = sealing.unseal_bytes(self.old_key, blob, customer_id=self.old_id, field=field)
        return blob if data is None else sealing.seal_bytes(self.new_key, data, customer_id=self.new_id, field=field)

    def reference(self) -> bytes | None:
        if self.new_key is None:
            return None  # erased: the reference is not kept
        return sealing.seal(self.new_key, self.old_id, customer_id=self.new_id, field="reference")


# A ticket subject's repeat-contact fingerprint under a key (tickets' rule, `tickets/domain.py`).
Fingerprint = Callable[[str, bytes], str]


async def _rekey_customer(
    session: AsyncSession, settings: IntakeSettings, old_id: str, fingerprint: Fingerprint
) -> None:
    """Move one customer stored under their channel's reference to their pseudonym, in one
    transaction: their key (merged into the pseudonym's if they reported again since), every
    value sealed for them, the sealed reference, and a recorded erasure."""
    new_id = pseudonym_of(settings, old_id)
    master = settings.data_master_key
    wrapped = await repository.locked_keys(session, [old_id, new_id])
    old_key = sealing.unwrap(master, wrapped[old_id], customer_id=old_id) if old_id in wrapped else None
    if new_id not in wrapped and old_key is not None:
        if not await repository.add_key(session, new_id, sealing.wrap(master, old_key, customer_id=new_id)):
            wrapped = await repository.locked_keys(session, [new_id])  # a ticket of theirs came in meanwhile
    new_key = sealing.unwrap(master, wrapped[new_id], customer_id=new_id) if new_id in wrapped else old_key
    move = _Rekey(old_id, new_id, old_key, new_key)
    ticket_ids = []
    for row in await repository.rows_of(session, "tickets", [*_TICKET_FIELDS, "fingerprint"], old_id):
        ticket_ids.append(row.id)
        values: dict[str, Any] = {c: move.text(getattr(row, c), f) for c, f in _TICKET_FIELDS.items()}
        if row.fingerprint is not None and new_key is not None and new_key != old_key:
            subject = sealing.unseal(new_key, values["subject"], customer_id=new_id, field="subject")
            values["fingerprint"] = fingerprint(subject, new_key) if subject is not None else None
        await repository.update_row(
            session, "tickets", row.id, {**values, "customer_id": new_id, "customer_reference": move.reference()}
        )
    for row in await repository.sealed_entries(session, ticket_ids):
        await repository.update_row(session, "timeline", row.id, {"body": move.text(row.body, "body")})
    for row in await repository.rows_of(session, "counter_entries", list(_COUNTER_FIELDS), old_id):
        values = {c: move.text(getattr(row, c), f) for c, f in _COUNTER_FIELDS.items()}
        values |= {"customer_id": new_id, "customer_reference": move.reference()}
        await repository.update_row(session, "counter_entries", row.id, values)
    blob_column, blob_field = _ATTACHMENT_BLOB
    for row in await repository.rows_of(session, "attachments", [*_ATTACHMENT_FIELDS, blob_column], old_id):
        values = {c: move.text(getattr(row, c), f) for c, f in _ATTACHMENT_FIELDS.items()}
        values |= {blob_column: move.binary(getattr(row, blob_column), blob_field), "customer_id": new_id}
        await repository.update_row(session, "attachments", row.id, values)
    for row in await repository.rows_of(session, "webhook_deliveries", ["payload"], old_id):
        payload = move.text(row.payload, f"webhook:{row.id}")
        await repository.update_row(session, "webhook_deliveries", row.id, {"payload": payload, "customer_id": new_id})
    await repository.retire_id(session, old_id, new_id)


async def rekey_legacy_customers(
    sessions: async_sessionmaker[AsyncSession], settings: IntakeSettings, *, fingerprint: Fingerprint, batch: int = 200
) -> int:
    """Re-key up to `batch` customers stored under their channel's reference (before pseudonyms),
    each in its own transaction (one that fails is logged and skipped); how many were moved.
    `fingerprint` re-keys a ticket's repeat-contact fingerprint when the customer's key changes."""
    async with sessions() as session:
        found = await repository.legacy_customers(session, batch)
    moved = 0
    for old_id in found:
        try:
            async with sessions() as session, session.begin():
                await _rekey_customer(session, settings, old_id, fingerprint)
            moved += 1
        except Exception:
            log.exception("re-keying a customer failed; the next run tries again")
    if found:
        log.info("re-keyed %d customers to pseudonymous ids (%d failed)", moved, len(found) - moved)
    return moved


async def retire_keys(session: AsyncSession, customer_ids: Sequence[str], *, now: datetime) -> int:
    """Destroy the keys of customers nothing of whom is kept any longer (retention), and note it
    so every process drops them from its cache within about a second. Unlike an erasure this
    says nothing about the customer: a new ticket of theirs gets a new key. How many went."""
    if not customer_ids:
        return 0
    destroyed = await repository.destroy_keys(session, customer_ids)
    await repository.record_retirements(session, destroyed, now)
    ring = state_of(session)[_KEYS]
    for customer_id in destroyed:
        ring.forget(session, customer_id)
    if destroyed:
        await notify(session, ERASURES_NOTICE)
    return len(destroyed)
