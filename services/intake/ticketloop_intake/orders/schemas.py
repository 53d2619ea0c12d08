"""The order a commerce system reports, its status changes, and the order as read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from ticketloop_intake.orders.domain import AMOUNT_PATTERN, CURRENCY_PATTERN, ORDER_ID_PATTERN
from ticketloop_shared.events import OrderStatus
from ticketloop_shared.validation import Instant, Text

OrderId = Field(
    pattern=ORDER_ID_PATTERN,
    description="The commerce system's own order id (letters, digits, `.`, `_`, `:`, `-`; up to 100), unique "
    "per channel client: a second report of the same id is a replay, never a second order.",
)


class OrderCreate(BaseModel):
    """A new order (or purchase) the commerce system reports."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    order_id: str = OrderId
    customer_id: Text = Field(
        min_length=1,
        max_length=100,
        description="The customer's reference as the commerce system knows it (the same reference the "
        "customer's tickets carry). intake keeps only its pseudonym and announces only that.",
    )
    amount: str = Field(
        pattern=AMOUNT_PATTERN,
        description='The order total as a decimal string ("129.90"): non-negative, at most 4 decimals.',
        examples=["129.90"],
    )
    currency: str = Field(pattern=CURRENCY_PATTERN, description="ISO 4217 code, upper case (`EUR`).")
    status: OrderStatus = OrderStatus.PLACED
    ordered_at: Instant = Field(description="When the customer ordered (not in the future).")

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_is_text(cls, value: Any) -> Any:
        """A JSON number is refused with why: a float cannot hold money exactly."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            raise PydanticCustomError(
                "amount_not_a_string", 'amount must be a decimal string such as "129.90", not a JSON number'
            )
        return value


class OrderStatusChange(BaseModel):
    """A new status of a reported order."""

    model_config = ConfigDict(extra="forbid")

    status: OrderStatus


class OrderOut(BaseModel):
    """An order as its commerce system reads it back (its `ETag` is `revision`)."""

    order_id: str
    customer_id: str = Field(description="The customer's pseudonymous id, as intake announces it.")
    amount: str
    currency: str
    status: OrderStatus
    ordered_at: datetime
    revision: int = Field(description="1 when recorded, +1 per status change.")
    created_at: datetime
    updated_at: datetime


class OrderAnswerOut(BaseModel):
    """The instant answer to an order-status question: the order it is about as intake last heard."""

    order_id: str
    status: OrderStatus
    ordered_at: datetime
    updated_at: datetime
    text: str = Field(description="A sentence the channel may show the customer as it is.")
