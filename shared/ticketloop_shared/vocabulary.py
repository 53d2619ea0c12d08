"""The words every service uses about tickets and customers, declared once.

Contracts only, no rules: intake accepts exactly these channels, categories, needs and urgencies
and moves tickets through these statuses; retrospective puts customers in these segments; routing,
sla, feedback and the dashboard name them. Events carry them as plain strings (a consumer reads
what a newer producer sends), and `tests/contract/test_vocabulary.py` pins every service's HTTP
schemas and sources to this module, so a copy cannot drift back.
"""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    """Where a problem was reported."""

    APP = "app"
    WEB = "web"
    MESSAGING = "messaging"
    EMAIL = "email"
    PHONE = "phone"
    COUNTER = "counter"
    PROACTIVE = "proactive"


class Category(StrEnum):
    """The kind of problem; routing maps each to its owning department."""

    PRODUCT_QUALITY = "product_quality"
    LOGISTICS_DELAY = "logistics_delay"
    BILLING = "billing"
    ACCOUNT = "account"
    SERVICE_ATTITUDE = "service_attitude"
    OTHER = "other"


class Need(StrEnum):
    """What the customer wants done."""

    REFUND = "refund"
    REPLACEMENT = "replacement"
    REPAIR = "repair"
    INFORMATION = "information"
    COMPLAINT = "complaint"
    OTHER = "other"


class Urgency(StrEnum):
    """How urgent the customer says it is."""

    NORMAL = "normal"
    URGENT = "urgent"
    CRITICAL = "critical"


class TicketStatus(StrEnum):
    """Where a ticket is in its life (SPEC §2: pending assignment → in progress → resolved →
    closed after the customer's confirmation, or reopened)."""

    PENDING_ASSIGNMENT = "pending_assignment"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    REOPENED = "reopened"


class Segment(StrEnum):
    """SPEC §5's customer segments (routing and sla know the same names)."""

    NEW = "new"
    HIGH_VALUE = "high_value"
    CHURN_RISK = "churn_risk"
    POTENTIAL = "potential"
