"""The HTTP unit of work commits before the response leaves: a change that fails at commit is
never reported as a success."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from sqlalchemy import Column, Integer, MetaData, Table, UniqueConstraint, func, select, text

from tests.support import serve
from ticketloop_shared.api import SessionDep, create_service_app
from ticketloop_shared.runtime import Messaging, ServiceSpec
from ticketloop_shared.settings import PlatformSettings, ServiceSettings

metadata = MetaData()
messaging = Messaging.on(metadata)
# Checked only at COMMIT: the endpoint's flush succeeds, the commit fails.
items = Table(
    "items",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("value", Integer, nullable=False),
    UniqueConstraint("value", name="uq_items_value", deferrable=True, initially="DEFERRED"),
)
router = APIRouter()


@router.post("/items/{value}", status_code=201)
async def add_item(value: int, session: SessionDep) -> dict[str, int]:
    await session.execute(items.insert().values(value=value))
    return {"value": value}


async def test_a_commit_failure_is_not_reported_as_success(
    platform: PlatformSettings, new_database: Callable[[str], Awaitable[str]]
) -> None:
    url = await new_database("uow")
    settings = ServiceSettings(database_url=url, migrate_on_start=False, platform=platform)
    spec = ServiceSpec(name="uow", settings=settings, messaging=messaging, migrations=Path("unused"))
    app = create_service_app(spec, title="uow", description="test", routers=[router])
    async with serve(app, wait_consumer=False) as svc:
        async with svc.runtime.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        first = await svc.client.post("/items/7")
        assert first.status_code == 201
        second = await svc.client.post("/items/7")  # violates the deferred constraint at commit
        assert second.status_code == 500
        assert second.json()["error"]["code"] == "internal_error"
        async with svc.runtime.engine.connect() as conn:
            assert await conn.scalar(select(func.count()).select_from(items)) == 1
            assert await conn.scalar(text("SELECT count(*) FROM items WHERE value = 7")) == 1
