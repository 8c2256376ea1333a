"""Fixtures for the Luau tests: the live API (a real `coffer serve` on a real PostgreSQL), a fake
Open Cloud it publishes to, a fault proxy in front of it, and Roblox engines running the module."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import asyncpg
import httpx
import pytest
from coffer_api import keys

from tests.live import LiveApi, start_live_api
from tests.roblox.engine import Engine
from tests.roblox.fakes import FakeOpenCloud, FaultProxy

SECRET_NAME = "coffer_api_key"


async def _execute(server_url: str, sql: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def opencloud() -> Iterator[FakeOpenCloud]:
    fake = FakeOpenCloud()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def api(server_url: str, template_database: str, opencloud: FakeOpenCloud) -> Iterator[LiveApi]:
    """One live API (and database) per test module, publishing balance changes to the fake Open Cloud.

    Tests in a module share it, so each uses user ids of its own.
    """
    name = f"coffer_roblox_{uuid.uuid4().hex[:12]}"
    asyncio.run(_execute(server_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"'))
    live = start_live_api(
        f"{server_url.rpartition('/')[0]}/{name}",
        env={
            "COFFER_KEY_CACHE_SECONDS": "0",
            "COFFER_RATE_LIMIT_PER_MINUTE": "100000",
            "COFFER_OPENCLOUD_API_KEY": opencloud.api_key,
            "COFFER_OPENCLOUD_UNIVERSE_ID": opencloud.universe_id,
            "COFFER_OPENCLOUD_BASE_URL": opencloud.url,
        },
    )
    yield live
    live.stop()
    asyncio.run(_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def create_key(api: LiveApi, scopes: str = "read,write") -> str:
    """A new API key, made the way `coffer keys create` makes it."""

    async def create() -> str:
        conn = await asyncpg.connect(api.database_url)
        try:
            _key, token = await keys.create_key(conn, f"roblox-{uuid.uuid4().hex[:8]}", scopes.split(","))
        finally:
            await conn.close()
        return token

    return asyncio.run(create())


@pytest.fixture(scope="module")
def game_key(api: LiveApi) -> str:
    """The game servers' API key (read, write)."""
    return create_key(api)


@pytest.fixture(scope="module")
def staff(api: LiveApi) -> Iterator[httpx.Client]:
    """An HTTP client with a key of its own, doing what the bot or an admin does."""
    with httpx.Client(
        base_url=api.url, headers={"Authorization": f"Bearer {create_key(api, 'read,write,admin')}"}, timeout=30
    ) as client:
        yield client


@pytest.fixture
def proxy(api: LiveApi) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(api.url)
    fault_proxy.start()
    yield fault_proxy
    fault_proxy.stop()


@pytest.fixture
def make_engine(game_key: str, opencloud: FakeOpenCloud) -> Iterator[Callable[[], Engine]]:
    """make_engine() -> a new game server; it hears the fake Open Cloud's messages."""
    engines: list[Engine] = []

    def make() -> Engine:
        engine = Engine(secrets={SECRET_NAME: game_key})
        opencloud.subscribers.append(engine.deliver)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        opencloud.subscribers.remove(engine.deliver)
        engine.shutdown()
    for engine in engines:
        assert not engine.unimplemented, f"the module used Roblox APIs the shim lacks: {engine.unimplemented}"
        assert not engine.errors, f"Luau errors: {engine.errors}"


@pytest.fixture
def engine(make_engine: Callable[[], Engine]) -> Engine:
    return make_engine()
