"""The append-only audit log each service keeps of sensitive actions: who changed the
organisation, who read a customer's unmasked personal data, and when.

Rows are only ever inserted (the table has no update path in code, and the migration revokes
nothing because each service owns its database; deletion would be an operator's act outside the
API). `GET /v1/audit` lets administrators read it, newest first, filtered and paginated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, MetaData, String, Table, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from ticketloop_shared.api import SessionDep
from ticketloop_shared.auth import CurrentAdmin, Principal


def audit_table(metadata: MetaData) -> Table:
    """The audit log, added to a service's own metadata (and its migrations)."""
    return Table(
        "audit_log",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("actor", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("action", String(100), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("details", JSONB, nullable=False),
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_subject", "subject"),
    )


async def record(
    session: AsyncSession,
    table: Table,
    *,
    actor: Principal,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry in the caller's transaction: it commits with the act it records."""
    await record_as(
        session, table, actor=actor.sub, role=actor.role.value, action=action, subject=subject, details=details
    )


async def record_as(
    session: AsyncSession,
    table: Table,
    *,
    actor: str,
    role: str,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one entry for an actor that is not a staff member (a channel client, the system)."""
    await session.execute(
        table.insert().values(actor=actor, role=role, action=action, subject=subject, details=details or {})
    )


class AuditEntry(BaseModel):
    """One recorded act."""

    id: int
    at: datetime
    actor: str
    role: str
    action: str
    subject: str
    details: dict[str, Any]


class AuditPage(BaseModel):
    """A page of the audit log, newest first."""

    items: list[AuditEntry]
    limit: int
    offset: int


def audit_router(table: Table) -> APIRouter:
    """`GET /v1/audit` over a service's audit table, for administrators."""
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("", response_model=AuditPage)
    async def read_audit(
        session: SessionDep,
        _: CurrentAdmin,
        actor: Annotated[str | None, Query(max_length=200)] = None,
        action: Annotated[str | None, Query(max_length=100)] = None,
        subject: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> AuditPage:
        """Who did what to what, and when; newest first."""
        stmt = select(table)
        for column, value in (("actor", actor), ("action", action), ("subject", subject)):
            if value is not None:
                stmt = stmt.where(table.c[column] == value)
        rows = (await session.execute(stmt.order_by(table.c.id.desc()).limit(limit).offset(offset))).all()
        return AuditPage(items=[AuditEntry.model_validate(dict(r._mapping)) for r in rows], limit=limit, offset=offset)

    return router
