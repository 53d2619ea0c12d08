"""What a service process keeps in memory between units of work (the organisation it routes
with, the SLA rules in force, key caches), owned by its `Runtime` instead of by modules.

A module-level cache is shared by every service in one process (the embedded runner and the
tests run several), outlives the runtime that filled it, and has to be keyed by database to
keep them apart. A `Slot` declares the piece of state where it is used; the runtime's
`ProcessState` holds one value per slot, made on first use. The unit of work hands it to
service code as `uow.state`; code that holds only a session (a read path) gets the same object
with `state_of(session)`, since every session comes from the runtime's session factory:

    RULES = Slot("sla rules", RulesCache)
    cache = uow.state[RULES]          # or state_of(session)[RULES]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")


class Slot(Generic[T]):
    """One named piece of per-process state and how to make it empty."""

    def __init__(self, name: str, make: Callable[[], T]) -> None:
        self.name = name
        self.make = make

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class ProcessState:
    """The per-process state of one runtime, one value per slot."""

    def __init__(self) -> None:
        self._values: dict[Slot[Any], Any] = {}

    def __getitem__(self, slot: Slot[T]) -> T:
        if slot not in self._values:
            self._values[slot] = slot.make()
        value: T = self._values[slot]
        return value

    async def aclose(self) -> None:
        """Close what holds connections (a value with an `aclose` method: an HTTP client's pool),
        then forget every value; the runtime calls it when it stops."""
        for value in list(self._values.values()):
            close = getattr(value, "aclose", None)
            if close is not None:
                await close()
        self._values.clear()

    def reset(self, slot: Slot[Any] | None = None) -> None:
        """Forget one slot's value (or every value): the next use starts empty."""
        if slot is None:
            self._values.clear()
        else:
            self._values.pop(slot, None)


# Where a runtime's session factory puts its state in every session's `info`.
SESSION_KEY = "ticketloop.process_state"


def state_of(session: AsyncSession) -> ProcessState:
    """The per-process state of the runtime whose session factory made `session`."""
    state = session.info.get(SESSION_KEY)
    if not isinstance(state, ProcessState):
        raise RuntimeError("this session was not made by a service runtime's session factory: it has no process state")
    return state
