"""HTTP: an admin reads a customer's unmasked personal data or the channel's reference behind a
pseudonymous id (both audited), or erases the customer's personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ticketloop_intake.tickets import service
from ticketloop_intake.tickets.schemas import CustomerReferenceOut, PersonalDataOut
from ticketloop_intake.unit import IntakeUowDep
from ticketloop_shared.auth import CurrentAdmin
from ticketloop_shared.validation import STORABLE

router = APIRouter(prefix="/v1/customers", tags=["customers"])
CustomerId = Annotated[str, Path(min_length=1, max_length=100), STORABLE]
_errors: dict[int | str, dict[str, object]] = {404: {"description": "intake holds no data of this customer"}}


@router.get("/{customer_id}/personal-data", response_model=PersonalDataOut, responses=_errors)
async def read_personal_data(
    customer_id: CustomerId, uow: IntakeUowDep, admin: CurrentAdmin, response: Response
) -> PersonalDataOut:
    """The customer's unmasked name and contact; the read is recorded (who, when)."""
    response.headers["Cache-Control"] = "no-store"
    personal = await service.unmasked(uow, customer_id=customer_id, by=admin)
    return PersonalDataOut(customer_id=customer_id, name=personal.name, contact=personal.contact)


@router.get("/{customer_id}/reference", response_model=CustomerReferenceOut, responses=_errors)
async def read_reference(
    customer_id: CustomerId, uow: IntakeUowDep, admin: CurrentAdmin, response: Response
) -> CustomerReferenceOut:
    """The reference the customer's channel knows them by, behind their pseudonymous id (what
    every other service and staff see); the read is recorded (who, when). 404 once erased."""
    response.headers["Cache-Control"] = "no-store"
    reference = await service.reference_of(uow, pseudonym=customer_id, by=admin)
    return CustomerReferenceOut(customer_id=customer_id, reference=reference)


@router.delete("/{customer_id}/personal-data", status_code=204, responses=_errors)
async def erase_personal_data(customer_id: CustomerId, uow: IntakeUowDep, admin: CurrentAdmin) -> Response:
    """Erase the customer's name, contact and texts from every ticket by destroying their key;
    the tickets, their facts and the reports stay. Repeating it is harmless (204)."""
    await service.erase_customer(uow, customer_id=customer_id, by=admin)
    return Response(status_code=204)
