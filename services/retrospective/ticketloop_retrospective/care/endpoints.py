"""HTTP: admins keep the anticipation rules; staff read them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ticketloop_retrospective.care import repository, service
from ticketloop_retrospective.care.domain import RULE_ID, Anchor
from ticketloop_retrospective.care.models import CareRule
from ticketloop_retrospective.care.schemas import CareRuleIn, CareRuleList, CareRuleOut
from ticketloop_shared.api import IfMatchRequired, PutPreconditionDep, SessionDep, UowDep, if_match_version
from ticketloop_shared.auth import CurrentAdmin, CurrentStaff

router = APIRouter(prefix="/v1/care-rules", tags=["care"])

RuleId = Annotated[str, Path(pattern=RULE_ID.pattern, description="Lower-case letters, digits, `-` and `_`; 1–64.")]
_not_found: dict[int | str, dict[str, object]] = {404: {"description": "No such rule (`care_rule_not_found`)"}}
_preconditions: dict[int | str, dict[str, object]] = {
    412: {
        "description": "The rule is not at the `If-Match` version, or exists under `If-None-Match: *` "
        "(`care_rule_changed`)"
    },
    428: {"description": "Neither `If-Match` nor `If-None-Match: *` was sent (`if_match_required`)"},
}


def _out(row: CareRule) -> CareRuleOut:
    return CareRuleOut(
        id=row.rule_id,
        name=row.name,
        anchor=Anchor(row.anchor),
        offset_days=row.offset_days,
        category=row.category,
        segments=list(row.segments),
        active_from=row.active_from,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
        version=row.version,
    )


@router.put(
    "/{rule_id}",
    response_model=CareRuleOut,
    responses={201: {"description": "Created", "model": CareRuleOut}, **_preconditions},
)
async def put_care_rule(
    rule_id: RuleId,
    body: CareRuleIn,
    uow: UowDep,
    admin: CurrentAdmin,
    response: Response,
    expected: PutPreconditionDep,
) -> CareRuleOut:
    """Create (201) or replace (200) an anticipation rule: at each customer's anchor plus
    `offset_days`, a `care.task_due` of kind `anticipation`, once per customer; audited."""
    row, created = await service.put_rule(
        uow,
        rule_id=rule_id,
        name=body.name,
        anchor=body.anchor,
        offset_days=body.offset_days,
        category=body.category,
        segments=body.segments,
        expected=expected,
        by=admin,
    )
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{row.version}"'
    return _out(row)


@router.get("", response_model=CareRuleList)
async def list_care_rules(session: SessionDep, _: CurrentStaff) -> CareRuleList:
    """Every anticipation rule, by id."""
    return CareRuleList(items=[_out(r) for r in await repository.rules(session)])


@router.get("/{rule_id}", response_model=CareRuleOut, responses=_not_found)
async def get_care_rule(rule_id: RuleId, uow: UowDep, _: CurrentStaff, response: Response) -> CareRuleOut:
    """One anticipation rule; its `ETag` is the version to send back as `If-Match`."""
    row = await service.get_rule(uow, rule_id)
    response.headers["ETag"] = f'"{row.version}"'
    return _out(row)


@router.delete("/{rule_id}", status_code=204, response_class=Response, responses={**_not_found, **_preconditions})
async def delete_care_rule(rule_id: RuleId, uow: UowDep, admin: CurrentAdmin, if_match: IfMatchRequired) -> Response:
    """Remove an anticipation rule at the version read (the tasks it already made stay); audited."""
    await service.delete_rule(uow, rule_id, version=if_match_version(if_match), by=admin)
    return Response(status_code=204)
