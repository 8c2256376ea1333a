"""FastAPI dependencies, declared once as Annotated aliases so routes read like sentences:
``async def post_transaction(key: Writer, idempotency_key: IdempotencyKey, conn: Conn)``.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from coffer_api.errors import (
    Forbidden,
    IdempotencyKeyInvalid,
    IdempotencyKeyMissing,
    Overloaded,
    RateLimited,
    Unauthenticated,
)
from coffer_api.keys import ApiKey
from coffer_api.settings import Settings

# Every dependency is `async def`: FastAPI runs plain `def` dependencies in a thread pool, a thread
# hop per request on the hot path.

log = logging.getLogger(__name__)

_bearer = HTTPBearer(
    auto_error=False, description="An API key made with `coffer keys create`, sent as `Bearer cfr_...`."
)


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, handed out first come, first served.

    asyncpg's pool is not fair under load: a released connection can go to a request that arrived
    just now instead of the one that has waited longest, which sent some requests' latency past a
    second in the benchmark. The gate (a FIFO semaphore the size of the pool) queues requests in
    arrival order, and the wait for it is bounded: past it, 503 overloaded.
    """
    state = request.app.state
    timeout = state.settings.db_pool_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            await state.pool_gate.acquire()
    except TimeoutError:
        raise Overloaded(
            "Every database connection is busy; retry in a moment.", headers={"Retry-After": "1"}
        ) from None
    try:
        try:
            conn = await state.pool.acquire(timeout=timeout)
        except TimeoutError:
            raise Overloaded(
                "Every database connection is busy; retry in a moment.", headers={"Retry-After": "1"}
            ) from None
        try:
            yield conn
        finally:
            try:
                await state.pool.release(conn)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError) as exc:
                # the pool has already terminated the broken connection; the request itself is done
                log.warning("discarded a broken database connection", extra={"error": type(exc).__name__})
    finally:
        state.pool_gate.release()


def _requires(scope: str):
    async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        if credentials is None:
            raise Unauthenticated(
                "Send your API key as 'Authorization: Bearer cfr_...'; an operator creates one with "
                "`coffer keys create --name NAME --scopes read,write`."
            )
        key = await request.app.state.keys.verify(credentials.credentials)
        request.scope["state"]["api_key_id"] = key.id
        decision = request.app.state.limiter.hit(key.id)
        request.scope["state"]["rate"] = decision
        if not decision.allowed:
            raise RateLimited(
                f"This API key may make {decision.limit} requests a minute; retry after {decision.retry_after} s.",
                headers={"Retry-After": str(decision.retry_after)},
            )
        if not key.allows(scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope; create one with --scopes {scope}.")
        return key

    return Depends(authenticate)


async def _idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="1-255 visible ASCII characters; the same key always gets the first reply.",
        ),
    ] = None,
) -> str:
    if key is None:
        raise IdempotencyKeyMissing("Send an Idempotency-Key header (for example a UUID) with every write.")
    if not 1 <= len(key) <= 255 or not all("\x21" <= ch <= "\x7e" for ch in key):
        raise IdempotencyKeyInvalid("The Idempotency-Key must be 1-255 visible ASCII characters.")
    return key


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


Conn = Annotated[asyncpg.Connection, Depends(_connection)]
Reader = Annotated[ApiKey, _requires("read")]
Writer = Annotated[ApiKey, _requires("write")]
Admin = Annotated[ApiKey, _requires("admin")]
IdempotencyKey = Annotated[str, Depends(_idempotency_key)]
AppSettings = Annotated[Settings, Depends(_settings)]
