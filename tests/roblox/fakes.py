"""Local stand-ins for the network around a game server: a fault-injecting proxy in front of the
live API, and a fake of Roblox Open Cloud's MessagingService publish endpoint.

Both are real HTTP servers (aiohttp) on 127.0.0.1, each on its own event loop thread, so the
blocking Luau engine and the API process talk to them over sockets like they would in production.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


class _LoopThread:
    """An aiohttp app served on its own thread; start() returns once it listens."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@dataclass
class Fault:
    """What the proxy does to the next `times` requests whose path starts with `path`."""

    path: str
    action: str  # "429" (with Retry-After), "503", "drop" (forward, apply, then cut the connection)
    times: int = 1
    retry_after: str = "1"


@dataclass
class Seen:
    at: float
    method: str
    path: str
    body: str
    status: int | None  # what the client got; None when the connection was cut
    upstream_body: str | None = None

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class FaultProxy(_LoopThread):
    """Forwards to `upstream`, injecting faults on request; records every request it saw."""

    def __init__(self, upstream: str) -> None:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        app.on_startup.append(self._open)
        app.on_cleanup.append(self._close)
        super().__init__(app)
        self.upstream = upstream
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._session: aiohttp.ClientSession | None = None

    def inject(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.startswith(path)]

    async def _open(self, _app: web.Application) -> None:
        self._session = aiohttp.ClientSession()

    async def _close(self, _app: web.Application) -> None:
        assert self._session is not None
        await self._session.close()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.startswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen = Seen(time.monotonic(), request.method, request.path_qs, body.decode(), None)
        with self._lock:
            self.seen.append(seen)
        fault = self._take_fault(request.path)
        if fault is not None and fault.action == "429":
            seen.status = 429
            problem = {"type": "urn:coffer:error:rate_limited", "title": "Rate limit exceeded", "status": 429}
            problem |= {"detail": "slow down", "code": "rate_limited"}
            return web.json_response(problem, status=429, headers={"Retry-After": fault.retry_after})
        if fault is not None and fault.action == "503":
            seen.status = 503
            return web.Response(status=503, text="<html>upstream unavailable</html>", content_type="text/html")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=headers
        ) as upstream:
            payload = await upstream.read()
            seen.upstream_body = payload.decode(errors="replace")
            if fault is not None and fault.action == "drop":
                # the API has applied the request; the game server never hears back
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError
            seen.status = upstream.status
            response_headers = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding")
            }
            return web.Response(status=upstream.status, body=payload, headers=response_headers)


@dataclass
class Publish:
    at: float
    universe_id: str
    topic: str
    api_key: str
    message: str

    def data(self) -> Any:
        return json.loads(self.message)


@dataclass
class FakeOpenCloud(_LoopThread):
    """POST /messaging-service/v1/universes/{universe}/topics/{topic}, as Open Cloud documents it.

    Checks the x-api-key and universe, refuses messages over 1 kB, can be told to fail (500, 429)
    or stall, and delivers accepted messages to the subscribed game servers (``subscribers``).
    """

    api_key: str = "opencloud-test-key"
    universe_id: str = "4242"
    published: list[Publish] = field(default_factory=list)
    attempts: int = 0
    fail_next: int = 0
    fail_status: int = 500
    subscribers: list[Callable[[str, str], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        app = web.Application()
        app.router.add_post("/messaging-service/v1/universes/{universe}/topics/{topic}", self._publish)
        super().__init__(app)
        self._lock = threading.Lock()

    def wait_for(self, predicate: Callable[[list[Publish]], bool], timeout: float = 20) -> list[Publish]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                snapshot = list(self.published)
            if predicate(snapshot):
                return snapshot
            time.sleep(0.05)
        raise TimeoutError(f"Open Cloud got {len(self.published)} publishes, not what was expected")

    async def _publish(self, request: web.Request) -> web.Response:
        with self._lock:
            self.attempts += 1
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
        if request.headers.get("x-api-key") != self.api_key:
            return web.json_response({"code": "UNAUTHENTICATED", "message": "Invalid API Key"}, status=401)
        if request.match_info["universe"] != self.universe_id:
            return web.json_response({"code": "NOT_FOUND", "message": "Universe not found"}, status=404)
        try:
            message = (await request.json())["message"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"code": "INVALID_ARGUMENT", "message": "message required"}, status=400)
        if not isinstance(message, str) or len(message.encode()) > 1024:
            return web.json_response({"code": "INVALID_ARGUMENT", "message": "Message too large"}, status=400)
        if failing:
            headers = {"Retry-After": "1"} if self.fail_status == 429 else None
            return web.json_response({"code": "INTERNAL", "message": "boom"}, status=self.fail_status, headers=headers)
        topic = request.match_info["topic"]
        with self._lock:
            self.published.append(
                Publish(time.monotonic(), request.match_info["universe"], topic, request.headers["x-api-key"], message)
            )
            subscribers = list(self.subscribers)
        for deliver in subscribers:
            deliver(topic, message)
        return web.Response(status=200)
