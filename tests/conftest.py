"""Fixtures shared by every test: a real, migrated PostgreSQL and the API in front of it.

DATABASE_URL set: its server is used (the user needs CREATEDB). Unset: a throwaway cluster is
started from the installed PostgreSQL binaries and removed afterwards. Each test gets its own
database, cloned from a template that ``coffer db upgrade`` migrated once per session.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests import postgres
from tests.live import LiveApi, start_live_api

ROOT = Path(__file__).resolve().parent.parent


def _replace_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[postgres.Cluster | None]:
    """The throwaway cluster, or None when DATABASE_URL points at an existing server."""
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    cluster = postgres.create_cluster()
    try:
        yield cluster
    finally:
        postgres.remove_cluster(cluster)


@pytest.fixture(scope="session")
def server_url(pg_cluster: postgres.Cluster | None) -> str:
    """A URL of the server's maintenance database."""
    return os.environ["DATABASE_URL"] if pg_cluster is None else pg_cluster.url


def run_coffer(*args: str, database_url: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run the real `coffer` CLI as a user would."""
    full_env = {**os.environ, "DATABASE_URL": database_url, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "coffer_api.cli", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def template_database(server_url: str) -> str:
    name = f"coffer_template_{uuid.uuid4().hex[:8]}"
    import asyncio

    async def create() -> None:
        conn = await asyncpg.connect(server_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    result = run_coffer("db", "upgrade", database_url=_replace_database(server_url, name))
    assert result.returncode == 0, result.stderr
    return name


@pytest.fixture
async def database_url(server_url: str, template_database: str) -> AsyncIterator[str]:
    """A freshly migrated database of its own for this test."""
    name = f"coffer_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    finally:
        await conn.close()
    yield _replace_database(server_url, name)
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection, for setting up state and checking what the API wrote."""
    conn = await asyncpg.connect(database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def settings_env() -> dict[str, str]:
    """Extra COFFER_* settings for the app under test; tests may add to it before using `client`."""
    return {"COFFER_KEY_CACHE_SECONDS": "0", "COFFER_RATE_LIMIT_PER_MINUTE": "100000"}


@pytest.fixture
async def app(database_url: str, settings_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    from coffer_api.main import create_asgi_app
    from coffer_api.settings import Settings

    for name, value in settings_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DATABASE_URL", database_url)
    edge = create_asgi_app(Settings())
    async with edge.app.router.lifespan_context(edge.app):
        yield edge


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://coffer.test") as http:
        yield http


@pytest.fixture
async def make_key(database_url: str) -> Callable:
    """make_key("read,write") -> a new API key's token."""
    from coffer_api import keys

    async def make(scopes: str = "read,write", name: str | None = None) -> str:
        conn = await asyncpg.connect(database_url)
        try:
            _key, token = await keys.create_key(conn, name or f"test-{uuid.uuid4().hex[:8]}", scopes.split(","))
        finally:
            await conn.close()
        return token

    return make


@pytest.fixture
async def auth(make_key) -> dict[str, str]:
    """Headers of a read,write key."""
    return {"Authorization": f"Bearer {await make_key('read,write')}"}


@pytest.fixture
def live_api(database_url: str, settings_env: dict[str, str]) -> Iterator[Callable[..., LiveApi]]:
    """start() -> a real `coffer serve` process on a free port; stopped after the test."""
    started: list[LiveApi] = []

    def start(workers: int = 1, env: dict[str, str] | None = None) -> LiveApi:
        api = start_live_api(database_url, workers=workers, env={**settings_env, **(env or {})})
        started.append(api)
        return api

    yield start
    for api in started:
        api.stop()
