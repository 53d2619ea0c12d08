"""retrospective's typed doors, declared once: the unit of work service code is handed, and
the dependencies through which endpoints get it and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ticketloop_retrospective.settings import RetrospectiveSettings
from ticketloop_shared.api import get_settings, get_uow
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.unit_of_work import UnitOfWork

RetrospectiveUnit = UnitOfWork[RetrospectiveSettings]
RetrospectiveRuntime = Runtime[RetrospectiveSettings]
RetrospectiveUowDep = Annotated[RetrospectiveUnit, Depends(get_uow, scope="function")]
SettingsDep = Annotated[RetrospectiveSettings, Depends(get_settings)]
