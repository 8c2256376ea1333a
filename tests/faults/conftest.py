"""Fixtures for the fault tests: API keys on a given database, a write storm, and the audit.

Every fault test bounds its own run time (pytest-timeout backs that up) and stops what it starts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import asyncpg
import httpx
import pytest

from tests.conftest import run_coffer


async def create_key(database_url: str, scopes: str = "read,write") -> str:
    from coffer_api import keys

    conn = await asyncpg.connect(database_url)
    try:
        _key, token = await keys.create_key(conn, f"faults-{uuid.uuid4().hex[:8]}", scopes.split(","))
    finally:
        await conn.close()
    return token


def audit_passes(database_url: str) -> str:
    result = run_coffer("audit", database_url=database_url)
    assert result.returncode == 0, f"coffer audit failed:\n{result.stdout}{result.stderr}"
    return result.stdout


@dataclass
class Sent:
    """One write the storm sent: its key and body, and what came back (None: no reply)."""

    key: str
    body: dict
    status: int | None = None
    reply: dict | None = None
    seconds: float = 0.0


@dataclass
class Storm:
    """Concurrent single writes (grants of 1-5 coins) with fresh Idempotency-Keys, recorded one by one."""

    url: str
    token: str
    players: int = 20
    sent: list[Sent] = field(default_factory=list)
    statuses: dict[int | str, int] = field(default_factory=dict)

    async def run(self, until: Callable[[], bool], concurrency: int = 16, timeout: float = 15) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout, limits=limits) as http:

            async def worker(n: int) -> None:
                i = 0
                while not until():
                    i += 1
                    sent = Sent(
                        key=f"storm-{uuid.uuid4().hex}",
                        body={
                            "entries": [
                                {"user_id": 1 + (n + i) % self.players, "currency": "coins", "amount": 1 + i % 5}
                            ],
                            "reason": "fault:storm",
                        },
                    )
                    self.sent.append(sent)
                    started = time.monotonic()
                    try:
                        response = await http.post(
                            "/v1/transactions", json=sent.body, headers={"Idempotency-Key": sent.key}
                        )
                    except httpx.HTTPError as exc:
                        sent.seconds = time.monotonic() - started
                        self.statuses[type(exc).__name__] = self.statuses.get(type(exc).__name__, 0) + 1
                        await asyncio.sleep(0.05)
                        continue
                    sent.seconds = time.monotonic() - started
                    sent.status = response.status_code
                    sent.reply = response.json() if response.content else None
                    self.statuses[response.status_code] = self.statuses.get(response.status_code, 0) + 1
                    if response.status_code >= 500:
                        await asyncio.sleep(0.05)

            await asyncio.gather(*(worker(n) for n in range(concurrency)))

    @property
    def acknowledged(self) -> list[Sent]:
        return [s for s in self.sent if s.status == 201]


@pytest.fixture
def storm_factory() -> Callable[[str, str], Storm]:
    return lambda url, token: Storm(url, token)
