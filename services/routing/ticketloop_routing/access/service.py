"""Revoking staff tokens: routing owns the staff directory, so it takes the request, keeps the
revocation itself and tells every other service with `staff.token_revoked`."""

from __future__ import annotations

import uuid
from datetime import timedelta

from ticketloop_routing.db import audit, messaging
from ticketloop_routing.unit import RoutingUnit
from ticketloop_shared import audit as audit_log
from ticketloop_shared.auth import Principal
from ticketloop_shared.events import TokenRevokedData
from ticketloop_shared.revocation import store_revocation


async def revoke(uow: RoutingUnit, *, by: Principal, jti: str | None, sub: str | None, reason: str) -> TokenRevokedData:
    """Record and announce the revocation; it lasts as long as any token it covers could."""
    now = uow.now()
    data = TokenRevokedData(
        revocation_id=uuid.uuid4(),
        jti=jti,
        sub=sub,
        issued_before=now if sub is not None else None,
        expires_at=now + timedelta(seconds=uow.settings.platform.token_max_ttl_seconds),
    )
    await store_revocation(uow, messaging.revoked_tokens, data)
    uow.emit(data, subject=sub or jti)
    await audit_log.record(
        uow.session,
        audit,
        actor=by,
        action="token.revoked",
        subject=f"staff:{sub}" if sub is not None else f"token:{jti}",
        details={"revocation_id": str(data.revocation_id), "reason": reason},
    )
    return data
