"""HTTP: revoke staff tokens; read the audit log."""

from __future__ import annotations

from fastapi import APIRouter

from ticketloop_routing.access import service
from ticketloop_routing.access.schemas import RevocationIn, RevocationOut
from ticketloop_routing.unit import RoutingUowDep
from ticketloop_shared.auth import CurrentAdmin

router = APIRouter(prefix="/v1", tags=["access"])


@router.post("/token-revocations", status_code=201, response_model=RevocationOut)
async def revoke_tokens(body: RevocationIn, uow: RoutingUowDep, admin: CurrentAdmin) -> RevocationOut:
    """Revoke one token (`jti`) or every token a member holds now (`sub`): all services refuse
    them within `TICKETLOOP_REVOCATION_REFRESH_SECONDS` (1 s) of this call."""
    data = await service.revoke(uow, by=admin, jti=body.jti, sub=body.sub, reason=body.reason)
    return RevocationOut.model_validate(data.model_dump())
