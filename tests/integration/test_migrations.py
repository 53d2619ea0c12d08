"""Each service's migrations build exactly the schema its models declare: a column or index added to
a model without a migration (or the other way round) fails here, not in production."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from ticketloop_shared.db import make_engine

SERVICES = ("intake", "routing", "sla", "feedback", "retrospective")


def _differences(connection: Connection, metadata: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


@pytest.mark.parametrize("service", SERVICES)
async def test_the_migrated_schema_matches_the_models(
    service: str, new_database: Callable[[str], Awaitable[str]]
) -> None:
    importlib.import_module(f"ticketloop_{service}.app")  # imports every model
    metadata = importlib.import_module(f"ticketloop_{service}.db").Base.metadata
    engine = make_engine(await new_database(service), pool_size=1)
    try:
        async with engine.connect() as conn:
            differences = await conn.run_sync(_differences, metadata)
    finally:
        await engine.dispose()
    assert differences == []
