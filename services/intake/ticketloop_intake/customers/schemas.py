"""HTTP shapes of a customer's personal data."""

from __future__ import annotations

from pydantic import BaseModel


class PersonalDataOut(BaseModel):
    """A customer's name and contact in clear, as on their latest ticket (`[erased]` / null
    after an erasure). Reading it is recorded in the audit log."""

    customer_id: str
    name: str
    contact: str | None
