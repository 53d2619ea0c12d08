"""Customers' keys: what a customer writes in a survey is sealed with their own key, opened only
to show it to staff, and erased by destroying the key (`customer.erased`). Surveys own the sealed
values (`surveys/service.py` seals, opens and blanks them); this feature never reads them."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_feedback.keys import repository
from ticketloop_feedback.settings import FeedbackSettings
from ticketloop_shared import sealing

# What a reader sees where a text was erased (or its key destroyed): the word intake shows.
ERASED = "[erased]"
# The first byte of a value stored unsealed (texts answered before sealing began, until the
# sealing job reaches them), and what erasing one in place writes over it.
CLEAR_MARK = sealing.CLEAR
ERASED_VALUE = sealing.ERASED_VALUE


async def key_for_sealing(session: AsyncSession, customer_id: str, settings: FeedbackSettings) -> bytes:
    """The customer's key to seal a new text with, created with their first text."""
    master = settings.data_master_key
    wrapped = await repository.key_for(
        session, customer_id, wrapped_if_new=sealing.wrap(master, sealing.new_key(), customer_id=customer_id)
    )
    return sealing.unwrap(master, wrapped, customer_id=customer_id)


async def keys_for_opening(
    session: AsyncSession, customer_ids: Sequence[str], settings: FeedbackSettings
) -> dict[str, bytes | None]:
    """The keys of these customers; None for one whose data was erased (or who wrote nothing)."""
    wrapped = await repository.keys(session, sorted(set(customer_ids)))
    master = settings.data_master_key
    return {
        customer_id: sealing.unwrap(master, wrapped[customer_id], customer_id=customer_id)
        if customer_id in wrapped
        else None
        for customer_id in set(customer_ids)
    }


def seal_text(key: bytes, customer_id: str, field: str, value: str) -> bytes:
    """One personal text, sealed for its customer and field."""
    return sealing.seal(key, value, customer_id=customer_id, field=field)


def open_text(key: bytes | None, customer_id: str, field: str, blob: bytes | None) -> str | None:
    """One stored text in clear; None once it cannot be read any more (erased, or its key destroyed)."""
    return sealing.unseal(key, blob, customer_id=customer_id, field=field)


async def destroy_key(session: AsyncSession, customer_id: str) -> bool:
    """Destroy the customer's key, so every text sealed with it becomes unreadable; False when
    there was none (erased before, or the customer never wrote anything here)."""
    return await repository.destroy_key(session, customer_id)
