"""The ASGI edge around the app: request ids, body limits, rate-limit headers, access logs, metrics.

Pure ASGI (no BaseHTTPMiddleware) because it sits on every request's hot path.
"""

import logging
import re
import time
import uuid

from coffer_api import logs, metrics
from coffer_api.errors import PayloadTooLarge

_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
access_log = logging.getLogger("coffer_api.access")


class Edge:
    def __init__(self, app, *, max_body_bytes: int, pool_stats=None) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.pool_stats = pool_stats

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        token = logs.request_id.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status_holder = [500]
        response_started = [False]
        refused = [False]

        async def send_with_headers(message):
            if refused[0]:
                return  # a 413 went out already; what the app answers to the cut-off body is dropped
            if message["type"] == "http.response.start":
                response_started[0] = True
                status_holder[0] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                rate = scope["state"].get("rate")
                if rate is not None:
                    headers.extend(rate.headers())
                message = {**message, "headers": headers}
            await send(message)

        length = _header(scope, b"content-length")
        try:
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                await self._too_large(send_with_headers)
            else:
                received = 0

                async def limited_receive():
                    nonlocal received
                    message = await receive()
                    if message["type"] == "http.request":
                        received += len(message.get("body", b""))
                        if received > self.max_body_bytes:
                            # Answer 413 here and tell the app the client left: FastAPI would turn an
                            # exception raised while it reads the body into a 400.
                            if not response_started[0]:
                                await self._too_large(send_with_headers)
                                refused[0] = True
                            return {"type": "http.disconnect"}
                    return message

                await self.app(scope, limited_receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            metrics.observe(scope["method"], template, status_holder[0], elapsed)
            if self.pool_stats is not None:
                metrics.observe_pool(*self.pool_stats())
            access_log.info(
                "request",
                extra={
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": template,
                    "status": status_holder[0],
                    "duration_ms": round(elapsed * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                    "api_key_id": scope["state"].get("api_key_id"),
                },
            )
            logs.request_id.reset(token)

    async def _too_large(self, send) -> None:
        error = PayloadTooLarge(f"Request bodies are limited to {self.max_body_bytes} bytes.")
        body = error.body()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
