"""Time-driven work of customers' keys: erasures made by any intake process reach this one; rows
written before pseudonymous ids are re-keyed."""

from __future__ import annotations

from ticketloop_intake.customers.service import drop_erased_keys as drop_erased
from ticketloop_intake.customers.service import rekey_legacy_customers
from ticketloop_intake.settings import IntakeSettings
from ticketloop_intake.unit import IntakeRuntime
from ticketloop_shared.scheduler import Scheduler
from ticketloop_shared.state import Slot

SCHEDULE = Scheduler[IntakeSettings]()


class _Rekeying:
    """Whether this process found no customer left to re-key."""

    def __init__(self) -> None:
        self.done = False


_REKEYING = Slot("customer re-keying", _Rekeying)


@SCHEDULE.every(name="drop-erased-keys", seconds=1)
async def drop_erased_keys(runtime: IntakeRuntime) -> int:
    """Forget the cached keys of customers erased lately, so an erasure made through another
    process holds here within about a second; how many were new."""
    return await drop_erased(runtime.state, runtime.engine, runtime.clock.now())


@SCHEDULE.every(name="rekey-customers", seconds=30)
async def rekey_customers(runtime: IntakeRuntime) -> int:
    """Move customers still stored under their channel's reference (rows written before
    pseudonyms) to their pseudonym, a batch per run, each in its own transaction, until none is
    left; idempotent, and a replica running it at the same time meets the row locks and finds
    nothing to do. Once a run finds none, this process stops looking (rows are written under
    pseudonyms only, so none can appear but from a replica of the previous version; the next
    start of any replica re-keys those)."""
    progress = runtime.state[_REKEYING]
    if progress.done:
        return 0
    moved = await rekey_legacy_customers(runtime.sessions, runtime.settings)
    progress.done = moved == 0
    return moved
