"""The API application: ``create_app(settings)`` wires the pool, the routers and one error handler.

Nothing connects at import time: the pool, the key verifier, the rate limiter and the background
tasks are created in the lifespan and closed when the app stops.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from coffer_api import erasure, ledger, outbox
from coffer_api.edge import Edge
from coffer_api.errors import CofferError, problem_body
from coffer_api.keys import KeyVerifier
from coffer_api.ratelimits import RateLimiter
from coffer_api.routes import health, leaderboards, links, players, receipts, transactions, webhooks
from coffer_api.settings import Settings

log = logging.getLogger(__name__)

DATABASE_ERRORS = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.QueryCanceledError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    # an idle pooled connection that the server is just closing (a restart sends it a FATAL error)
    # can be handed out before asyncpg notices the close: its first statement fails with this
    asyncpg.InternalClientError,
    TimeoutError,
)

DESCRIPTION = """
coffer keeps a Roblox experience's currency in a double-entry ledger on PostgreSQL.

* Authenticate with `Authorization: Bearer <key>` (`coffer keys create`); scopes `read`, `write`, `admin`.
* Every write takes an `Idempotency-Key`: the same key always gets the first reply
  (with `Idempotent-Replayed: true`), so retries never apply twice.
* Errors are `application/problem+json` with a stable `code`.
"""


async def _background(name: str, start: Callable[[], Awaitable[None]]) -> None:
    """Run one background loop; it is only created here, so a task cancelled before it starts leaves
    no coroutine that was never awaited."""
    try:
        await start()
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("background task stopped", extra={"task": name})


async def _purge_idempotency_keys(pool: asyncpg.Pool, settings: Settings) -> None:
    while True:
        try:
            async with pool.acquire() as conn:
                purged = await ledger.purge_idempotency_keys(conn, settings.idempotency_retention_days)
                while purged > 0:  # in slices of 10,000 rows, so no long lock or long transaction
                    await asyncio.sleep(0.1)
                    purged = await ledger.purge_idempotency_keys(conn, settings.idempotency_retention_days)
        except DATABASE_ERRORS as exc:
            log.warning("idempotency purge failed; will retry", extra={"error": type(exc).__name__})
        await asyncio.sleep(3600)


async def _check_idle(conn: asyncpg.Connection) -> None:
    """Pool release hook: one trivial statement, which proves the connection is idle.

    A statement cut off by a dying server can leave a connection mid-protocol; handed to the next
    request it fails with InternalClientError (seen when PostgreSQL restarts under load). If this
    statement fails, asyncpg terminates the connection instead of reusing it. It replaces asyncpg's
    default reset (RESET ALL, UNLISTEN *, CLOSE ALL, advisory unlocks) because coffer keeps no
    session state (only SET LOCAL); asyncpg still rolls back a leaked transaction first.
    """
    await conn.execute("SELECT 1")


def create_app(settings: Settings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            server_settings={
                "application_name": "coffer-api",
                # short OLTP statements only: JIT compiling one costs more than running it (~200 ms)
                "jit": "off",
                "statement_timeout": str(int(settings.db_statement_timeout_seconds * 1000)),
            },
            command_timeout=settings.db_statement_timeout_seconds + 5,
            timeout=5,
            reset=_check_idle,
        )
        app.state.pool = pool
        # requests take pooled connections in arrival order (see deps._connection)
        app.state.pool_gate = asyncio.Semaphore(settings.db_pool_max_size)
        app.state.keys = KeyVerifier(pool, settings.key_cache_seconds, settings.db_pool_timeout_seconds)
        app.state.limiter = RateLimiter(settings.rate_limit_per_minute)
        app.state.pool_stats = lambda: (pool.get_size(), pool.get_idle_size())
        app.state.erasure_wake = asyncio.Event()
        tasks = [
            asyncio.create_task(
                _background("rate-limit-sync", lambda: app.state.limiter.run(pool, settings.rate_limit_sync_seconds))
            ),
            asyncio.create_task(_background("idempotency-purge", lambda: _purge_idempotency_keys(pool, settings))),
            # publishes balance changes to Open Cloud when COFFER_OPENCLOUD_* is set; always purges old rows
            asyncio.create_task(_background("balance-outbox", lambda: outbox.run(pool, settings))),
            # applies queued right-to-erasure requests; the webhook wakes it
            asyncio.create_task(_background("erasure", lambda: erasure.run(pool, app.state.erasure_wake))),
        ]
        app.state.background = tasks
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            with contextlib.suppress(*DATABASE_ERRORS):
                await app.state.limiter.sync(pool)
            await asyncio.wait_for(pool.close(), 10)

    app = FastAPI(
        title="coffer",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    for module in (health, players, transactions, receipts, leaderboards, links, webhooks):
        app.include_router(module.router)
    _install_error_handlers(app)
    return app


def _problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra) -> Response:
    return Response(
        orjson.dumps(problem_body(status, code, detail, **extra)),
        status,
        headers,
        media_type="application/problem+json",
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CofferError)
    async def coffer_error(request: Request, exc: CofferError) -> Response:
        return Response(exc.body(), exc.status, exc.headers, media_type="application/problem+json")

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"]) or "request"
        return _problem(422, "validation_error", f"{where}: {first['msg']}", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            return _problem(404, "not_found", f"No route {request.method} {request.url.path}; see /docs.")
        if exc.status_code == 405:
            return _problem(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}.",
                headers=exc.headers,
            )
        if exc.status_code == 400:
            # FastAPI's only own 400: a body that cannot be parsed (bytes that are not UTF-8 JSON).
            # Like any other malformed body it is a 422 validation_error, as the schema documents.
            return _problem(422, "validation_error", "body: not valid JSON", errors=[])
        return _problem(exc.status_code, "http_error", str(exc.detail), headers=exc.headers)

    async def database_unavailable(request: Request, exc: Exception) -> Response:
        log.warning("database unavailable", extra={"error": type(exc).__name__})
        return _problem(
            503,
            "database_unavailable",
            "The database is unavailable; retry shortly.",
            headers={"Retry-After": "1"},
        )

    for error in DATABASE_ERRORS:
        app.add_exception_handler(error, database_unavailable)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled error", exc_info=exc)
        return _problem(500, "internal_error", "Something went wrong on our side; the request id is logged.")


def create_asgi_app(settings: Settings | None = None):
    """The app wrapped in the edge middleware: what uvicorn serves."""
    settings = settings or Settings()
    app = create_app(settings)

    def pool_stats():
        stats = getattr(app.state, "pool_stats", None)
        return stats() if stats else (0, 0)

    return Edge(app, max_body_bytes=settings.max_body_bytes, pool_stats=pool_stats)
