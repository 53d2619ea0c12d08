"""intake's typed doors, declared once: the unit of work service code is handed, and the
dependencies through which endpoints get it and the settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ticketloop_intake.settings import IntakeSettings
from ticketloop_shared.api import get_settings, get_uow
from ticketloop_shared.runtime import Runtime
from ticketloop_shared.unit_of_work import UnitOfWork

IntakeUnit = UnitOfWork[IntakeSettings]
IntakeRuntime = Runtime[IntakeSettings]
IntakeUowDep = Annotated[IntakeUnit, Depends(get_uow, scope="function")]
SettingsDep = Annotated[IntakeSettings, Depends(get_settings)]
