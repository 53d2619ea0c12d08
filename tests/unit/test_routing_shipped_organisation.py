"""The organisation routing ships with (SPEC §2 routing; issue 22: VIP first by default): every
department limits what an agent owns at once, so tickets wait under load and the priority order
decides who is served first, and names a supervisor, so an SLA escalation to level 2 reaches
someone. The load harnesses' copy differs only in having no capacities."""

from __future__ import annotations

import tomllib

from ticketloop_embedded.organisations import LOAD_ORGANISATION
from ticketloop_routing.organisation.schemas import Organisation
from ticketloop_routing.organisation.service import read_file
from ticketloop_routing.settings import DEFAULT_ORGANISATION


def test_every_shipped_department_has_a_capacity_and_a_supervisor() -> None:
    shipped = read_file(DEFAULT_ORGANISATION)
    for department in shipped.departments:
        assert department.default_capacity is not None and department.default_capacity >= 1, department.id
        assert department.supervisor, department.id


def test_the_load_organisation_is_the_shipped_one_without_capacities() -> None:
    shipped = tomllib.loads(DEFAULT_ORGANISATION.read_text())
    for department in shipped["departments"]:
        department.pop("default_capacity")
    for agent in shipped["agents"]:
        agent.pop("capacity", None)
    assert Organisation.model_validate(tomllib.loads(LOAD_ORGANISATION.read_text())) == Organisation.model_validate(
        shipped
    )
