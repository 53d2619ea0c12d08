"""routing's typed doors, declared once: the unit of work service code is handed, and the
dependencies through which endpoints get it and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ticketloop_routing.settings import RoutingSettings
from ticketloop_shared.api import get_settings, get_uow
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.unit_of_work import UnitOfWork

RoutingUnit = UnitOfWork[RoutingSettings]
RoutingRuntime = Runtime[RoutingSettings]
RoutingUowDep = Annotated[RoutingUnit, Depends(get_uow, scope="function")]
SettingsDep = Annotated[RoutingSettings, Depends(get_settings)]
