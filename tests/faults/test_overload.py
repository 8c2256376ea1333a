"""Overload: more concurrent requests than database connections, slow clients, oversized bodies.

Requests beyond the pool wait a bounded time and are refused with 503 ``overloaded`` (never left
hanging); slow-loris clients and huge bodies do not stall anybody else.
"""

import asyncio
import json
import socket
import time
import uuid

import asyncpg
import httpx

from tests.faults.conftest import create_key

GRANT = {"entries": [{"user_id": 7, "currency": "coins", "amount": 1}], "reason": "fault:overload"}


async def test_requests_beyond_the_pool_are_refused_with_503_after_a_bounded_wait(live_api, database_url):
    api = live_api(
        env={
            "COFFER_DB_POOL_MIN_SIZE": "1",
            "COFFER_DB_POOL_MAX_SIZE": "2",
            "COFFER_DB_POOL_TIMEOUT_SECONDS": "0.5",
        }
    )
    headers = {"Authorization": f"Bearer {await create_key(database_url)}"}
    async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=30) as http:
        first = await http.post("/v1/transactions", json=GRANT, headers={"Idempotency-Key": uuid.uuid4().hex})
        assert first.status_code == 201

        # hold player 7's account lock: the requests that get a connection block on it, the rest queue
        holder = await asyncpg.connect(database_url)
        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM accounts WHERE user_id = 7 FOR UPDATE")

        async def post():
            started = time.monotonic()
            response = await http.post("/v1/transactions", json=GRANT, headers={"Idempotency-Key": uuid.uuid4().hex})
            return response, time.monotonic() - started

        pending = [asyncio.create_task(post()) for _ in range(20)]
        await asyncio.sleep(4)  # far longer than the 0.5 s pool wait
        refused = [t.result() for t in pending if t.done()]
        await lock.rollback()
        await holder.close()
        replies = await asyncio.gather(*pending)

    statuses = [r.status_code for r, _ in replies]
    assert set(statuses) <= {201, 503}, statuses
    assert 1 <= statuses.count(201) <= 2, statuses  # at most the pool's two connections got through
    assert len(refused) == statuses.count(503) >= 18, "the queued requests were left hanging"
    for response, seconds in refused:
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "overloaded"
        assert response.headers["retry-after"] == "1"
        assert seconds < 3, seconds


def _slow_loris(port: int, count: int) -> list[socket.socket]:
    sockets = []
    for i in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if i % 2:
            s.sendall(b"GET /v1/players/1/balances HTTP/1.1\r\nHost: coffer\r\nX-Slow: ")  # headers never end
        else:
            s.sendall(
                b"POST /v1/transactions HTTP/1.1\r\nHost: coffer\r\nContent-Length: 60000\r\n\r\n{"
            )  # body never ends
        sockets.append(s)
    return sockets


async def test_slow_clients_and_oversized_bodies_do_not_stall_other_requests(live_api, database_url):
    api = live_api()
    headers = {"Authorization": f"Bearer {await create_key(database_url)}"}
    loris = _slow_loris(api.port, 60)
    try:
        async with httpx.AsyncClient(base_url=api.url, headers=headers, timeout=10) as http:

            async def trickle() -> None:
                for _ in range(10):
                    for s in loris:
                        s.sendall(b"a")
                    await asyncio.sleep(0.3)

            async def oversized() -> list[tuple[int, dict]]:
                replies = []
                for framing in ("content-length", "chunked"):
                    reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
                    head = (
                        "POST /v1/transactions HTTP/1.1\r\nHost: coffer\r\n"
                        f"Authorization: {headers['Authorization']}\r\n"
                        f"Idempotency-Key: {uuid.uuid4().hex}\r\nContent-Type: application/json\r\n"
                    )
                    if framing == "content-length":  # announced: refused before a byte of the body is read
                        writer.write(f"{head}Content-Length: {10 * 1024 * 1024}\r\n\r\n".encode())
                    else:  # not announced: refused once 64 KiB have arrived
                        writer.write(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
                        for _ in range(8):
                            writer.write(b"4000\r\n" + b" " * 0x4000 + b"\r\n")
                    await writer.drain()
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                    lines = head.decode().split("\r\n")
                    fields = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
                    body = await asyncio.wait_for(reader.readexactly(int(fields["content-length"])), 5)
                    replies.append((int(lines[0].split()[1]), json.loads(body)))
                    writer.close()
                return replies

            async def normal() -> list[float]:
                times = []
                for _ in range(20):
                    started = time.monotonic()
                    response = await http.get("/v1/players/1/balances")
                    assert response.status_code == 200
                    times.append(time.monotonic() - started)
                return times

            _, too_large, times = await asyncio.gather(trickle(), oversized(), normal())
    finally:
        for s in loris:
            s.close()

    for status, body in too_large:
        assert status == 413
        assert body["code"] == "payload_too_large"
    assert max(times) < 2, f"a normal request waited {max(times):.2f} s behind slow clients"
