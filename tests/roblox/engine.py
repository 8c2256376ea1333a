"""A small, honest stand-in for the Roblox engine, so the Luau module runs in the real Luau VM (pluau).

It implements only what coffer's module and examples touch, and fails loudly on anything else:
an unknown global, service, property or method raises a Lua error *and* is recorded in
``Engine.unimplemented``, which the fixtures assert is empty (a pcall cannot hide it).

- A scheduler in the style of Roblox's task library: ``task.wait/spawn/delay/defer`` resume Lua
  threads; yielding engine calls (``RequestAsync``) park the calling thread and resume it when done.
- ``HttpService:RequestAsync`` makes REAL HTTP requests (httpx, in worker threads so several are in
  flight at once) and enforces Roblox's 500 requests per minute per server. It raises like Roblox
  on network failures ("HttpError: ConnectFail" ...) and returns {Success, StatusCode, ...} otherwise.
- ``JSONEncode/JSONDecode`` follow Roblox: integral numbers as integers, empty tables as ``[]``.
- ``GetSecret`` returns an opaque Secret (``typeof`` "Secret", ``AddPrefix``) that only
  ``RequestAsync`` headers can read.
- ``MessagingService:SubscribeAsync``: messages arrive through ``Engine.deliver`` (the fake Open
  Cloud calls it from its own thread).
- ``Players:GetPlayerByUserId``, ``game:BindToClose`` (run by ``Engine.close``),
  ``Enum.ProductPurchaseDecision``, ``warn`` and ``print``.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import json
import math
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pluau

ROOT = Path(__file__).resolve().parents[2]
MODULE = ROOT / "clients" / "roblox" / "src" / "Coffer.luau"
HTTP_LIMIT_PER_MINUTE = 500


class ShimGap(RuntimeError):
    """The module used a Roblox API that this shim does not implement."""


@dataclass
class SentRequest:
    at: float
    method: str
    url: str
    headers: dict[str, str]
    body: str | None


@dataclass
class Secret:
    value: str = field(repr=False)


@dataclass
class Player:
    UserId: int
    Name: str


class Engine:
    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.lua = pluau.Lua()
        self.secrets = secrets or {}
        self.unimplemented: list[str] = []
        self.errors: list[str] = []
        self.output: list[str] = []
        self.warnings: list[str] = []
        self.requests: list[SentRequest] = []
        self.players: dict[int, Any] = {}
        self._ready: deque[tuple[pluau.Thread, tuple, bool]] = deque()
        self._timers: list[tuple[float, int, pluau.Thread, str, Any]] = []
        self._seq = itertools.count()
        self._parked: dict[int, pluau.Thread] = {}  # threads waiting for HTTP, by ticket (never leave this thread)
        self._watched: dict[int, list[Any] | None] = {}
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()  # (kind, payload) from other threads
        self._wake = threading.Event()
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="roblox-http")
        self._http = httpx.Client(timeout=30.0)
        self._subscriptions: dict[str, list[Any]] = {}
        self._close_handlers: list[Any] = []
        self._started = time.monotonic()
        self._install()

    # ---------------------------------------------------------------- lifecycle

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._http.close()

    def clock(self) -> float:
        return time.monotonic() - self._started

    def require_module(self) -> pluau.Table:
        """The Coffer module table, as `require(Coffer)` would return it."""
        (module,) = self._load(MODULE.read_text(), "Coffer")()
        return module

    def start(self, source: str, *args: Any) -> pluau.Thread:
        """Start a Luau script in a new thread, like a Script; it runs until it first yields."""
        thread = self.lua.create_thread(self._load(source, "TestScript"))
        self._watched[thread.pointer] = None
        self._resume(thread, tuple(self.to_lua(a) for a in args))
        return thread

    @staticmethod
    def done(thread: pluau.Thread) -> bool:
        return thread.status != pluau.ThreadState.Resumable

    def results(self, thread: pluau.Thread) -> list[Any]:
        """A finished script's return values, in Python."""
        results = self._watched.pop(thread.pointer, None)
        if thread.status != pluau.ThreadState.Finished or results is None:
            raise AssertionError(f"script failed: {self.errors[-1] if self.errors else thread.status}")
        return [self.to_python(v) for v in results]

    def run(self, source: str, *args: Any, timeout: float = 60.0) -> list[Any]:
        """Run a Luau script until it returns; its results, in Python."""
        thread = self.start(source, *args)
        self.run_until(lambda: self.done(thread), timeout)
        return self.results(thread)

    def step(self) -> None:
        """Run everything that is due now (for driving several engines side by side)."""
        self._step()

    def run_until(self, condition: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self._step()
            if condition():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Luau did not finish in {timeout} s; errors: {self.errors}")
            self._wake.wait(self._idle_wait())
            self._wake.clear()

    def advance(self, seconds: float) -> None:
        """Let the game run for `seconds` of real time."""
        end = time.monotonic() + seconds
        self.run_until(lambda: time.monotonic() >= end, seconds + 5)

    def close(self, timeout: float = 30.0) -> None:
        """The server shuts down: every game:BindToClose function runs (Roblox allows 30 s)."""
        threads = [self.lua.create_thread(fn) for fn in self._close_handlers]
        for thread in threads:
            self._resume(thread, ())
        self.run_until(lambda: all(t.status != pluau.ThreadState.Resumable for t in threads), timeout)

    def add_player(self, user_id: int, name: str | None = None) -> None:
        self.players[user_id] = self._instance("Player", Player(user_id, name or f"Player{user_id}"))

    def deliver(self, topic: str, data: str) -> None:
        """A MessagingService message for this server (thread-safe)."""
        self._inbox.put(("message", (topic, data)))
        self._wake.set()

    # ---------------------------------------------------------------- scheduler

    def _load(self, source: str, name: str) -> pluau.Function:
        return self.lua.load_chunk(source, name=f"={name}")

    def _resume(self, thread: pluau.Thread, args: tuple, error: bool = False) -> None:
        if thread.status != pluau.ThreadState.Resumable:
            raise ShimGap(f"cannot resume a {thread.status} thread")
        try:
            results = thread.resume_error(args[0]) if error else thread.resume(*args)
        except Exception as exc:  # a script error: Roblox prints it and keeps running
            self.errors.append(str(exc))
            return
        if thread.status == pluau.ThreadState.Finished and thread.pointer in self._watched:
            self._watched[thread.pointer] = list(results)

    def _step(self) -> None:
        while True:
            try:
                kind, payload = self._inbox.get_nowait()
            except queue.Empty:
                break
            if kind == "http":
                ticket, outcome = payload
                thread = self._parked.pop(ticket)
                if isinstance(outcome, Exception):
                    self._ready.append((thread, (str(outcome),), True))
                else:
                    self._ready.append((thread, (self.to_lua(outcome),), False))
            elif kind == "message":
                topic, data = payload
                for callback in list(self._subscriptions.get(topic, [])):
                    message = self.to_lua({"Data": data, "Sent": time.time()})
                    self._ready.append((self.lua.create_thread(callback), (message,), False))
        now = self.clock()
        while self._timers and self._timers[0][0] <= now:
            _, _, thread, kind, data = heapq.heappop(self._timers)
            args = (now - data,) if kind == "wait" else data  # task.wait returns the time waited
            if thread.status == pluau.ThreadState.Resumable:
                self._ready.append((thread, args, False))
        while self._ready:
            thread, args, error = self._ready.popleft()
            self._resume(thread, args, error)

    def _idle_wait(self) -> float:
        if self._ready or not self._inbox.empty():
            return 0
        if self._timers:
            return max(0.0, min(0.05, self._timers[0][0] - self.clock()))
        return 0.05

    def _after(self, seconds: float, thread: pluau.Thread, kind: str, data: Any) -> None:
        heapq.heappush(self._timers, (self.clock() + max(0.0, seconds), next(self._seq), thread, kind, data))

    # ---------------------------------------------------------------- Lua <-> Python values

    def to_python(self, value: Any, depth: int = 0) -> Any:
        if depth > 50:
            raise ShimGap("table nesting too deep (a cycle?)")
        if isinstance(value, pluau.String):
            return value.as_bytes().decode("utf-8", errors="surrogateescape")
        if isinstance(value, pluau.Table):
            items = [(self.to_python(k, depth + 1), self.to_python(v, depth + 1)) for k, v in value]
            keys = [k for k, _ in items]
            if keys and all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
                return [v for _, v in sorted(items, key=lambda kv: kv[0])]
            if not keys:
                return []
            return dict(items)
        if isinstance(value, pluau.UserData):
            return value.data()
        return value

    def to_lua(self, value: Any) -> Any:
        if isinstance(value, dict):
            table = self.lua.create_table()
            for k, v in value.items():
                if v is not None:
                    table.set(self.to_lua(k), self.to_lua(v))
            return table
        if isinstance(value, (list, tuple)):
            table = self.lua.create_table()
            for v in value:
                table.push(self.to_lua(v))
            return table
        return value

    # ---------------------------------------------------------------- the Roblox API surface

    def _gap(self, what: str) -> None:
        self.unimplemented.append(what)
        raise ShimGap(f"{what} is not implemented by the Roblox test shim")

    def _fn(self, fn: Callable[..., Any]) -> pluau.Function:
        """A Lua function from a Python one; results are always a list (multiple returns)."""

        def call(lua: pluau.Lua, args: tuple) -> list[Any]:
            result = fn(*args)
            return result if isinstance(result, list) else [result]

        return self.lua.create_function(call)

    def _instance(self, class_name: str, data: Any, members: dict[str, Any] | None = None) -> pluau.UserData:
        """A userdata whose unknown members fail loudly; `members` are values or Lua functions."""
        members = members or {}

        def index(_ud: Any, key: Any) -> Any:
            name = self.to_python(key)
            if name in members:
                return members[name]
            if hasattr(data, name) and not name.startswith("_"):
                return getattr(data, name)
            self._gap(f"{class_name}.{name}")

        def newindex(_ud: Any, key: Any, _value: Any) -> None:
            self._gap(f"setting {class_name}.{self.to_python(key)}")

        meta = self.lua.create_table()
        meta.set("__index", self._fn(index))
        meta.set("__newindex", self._fn(newindex))
        meta.set("__type", class_name if class_name in ("Secret", "EnumItem") else "Instance")
        meta.set("__tostring", self._fn(lambda _ud: getattr(data, "Name", class_name)))
        meta.set("__metatable", "The metatable is locked")
        return self.lua.create_userdata(data, meta)

    def _install(self) -> None:
        g = self.lua.globals()
        lua = self.lua

        # task library
        def wait(seconds: Any = None) -> None:
            thread = lua.current_thread()
            self._after(float(seconds or 0), thread, "wait", self.clock())
            lua.yield_with()

        def spawn(target: Any, *args: Any) -> Any:
            thread = target if isinstance(target, pluau.Thread) else lua.create_thread(target)
            self._resume(thread, args)
            return thread

        def delay(seconds: Any, target: Any, *args: Any) -> Any:
            thread = target if isinstance(target, pluau.Thread) else lua.create_thread(target)
            self._after(float(seconds or 0), thread, "call", args)
            return thread

        def defer(target: Any, *args: Any) -> Any:
            thread = target if isinstance(target, pluau.Thread) else lua.create_thread(target)
            self._ready.append((thread, args, False))
            return thread

        task = lua.create_table()
        for name, fn in {"wait": wait, "spawn": spawn, "delay": delay, "defer": defer}.items():
            task.set(name, self._fn(fn))
        self._lock_table(task, "task")
        g.set("task", task)

        os_table = g.get("os")
        os_table.set("clock", self._fn(self.clock))

        def out(store: list[str], prefix: str) -> Callable[..., None]:
            def write(*args: Any) -> None:
                store.append(prefix + " ".join(str(self.to_python(a)) for a in args))

            return write

        g.set("print", self._fn(out(self.output, "")))
        g.set("warn", self._fn(out(self.warnings, "")))

        # Enum
        decisions = {
            name: self._instance(
                "EnumItem",
                type("EnumItem", (), {"Name": name, "__repr__": lambda s: f"Enum.ProductPurchaseDecision.{s.Name}"})(),
            )
            for name in ("NotProcessedYet", "PurchaseGranted")
        }
        self.decisions = {name: ud for name, ud in decisions.items()}
        enum = lua.create_table()
        purchase = lua.create_table()
        for name, item in decisions.items():
            purchase.set(name, item)
        self._lock_table(purchase, "Enum.ProductPurchaseDecision")
        enum.set("ProductPurchaseDecision", purchase)
        self._lock_table(enum, "Enum")
        g.set("Enum", enum)

        services = {
            "HttpService": self._instance("HttpService", object(), self._http_service()),
            "MessagingService": self._instance("MessagingService", object(), self._messaging_service()),
            "Players": self._instance("Players", object(), self._players_service()),
        }

        def get_service(_game: Any, name: Any) -> Any:
            name = self.to_python(name)
            if name not in services:
                self._gap(f"game:GetService({name!r})")
            return services[name]

        def bind_to_close(_game: Any, fn: Any) -> None:
            self._close_handlers.append(fn)

        game = self._instance(
            "DataModel",
            object(),
            {"GetService": self._fn(get_service), "BindToClose": self._fn(bind_to_close)},
        )
        g.set("game", game)

        # any other global (Instance, workspace, script, Random...) fails loudly
        g_meta = lua.create_table()
        g_meta.set("__index", self._fn(lambda _g, key: self._gap(f"global {self.to_python(key)}")))
        g.set_metatable(g_meta)

    def _lock_table(self, table: pluau.Table, name: str) -> None:
        meta = self.lua.create_table()
        meta.set("__index", self._fn(lambda _t, key: self._gap(f"{name}.{self.to_python(key)}")))
        table.set_metatable(meta)

    def _secret(self, secret: Secret) -> pluau.UserData:
        def add_prefix(_ud: Any, prefix: Any) -> Any:
            return self._secret(Secret(self.to_python(prefix) + secret.value))

        def add_suffix(_ud: Any, suffix: Any) -> Any:
            return self._secret(Secret(secret.value + self.to_python(suffix)))

        return self._instance("Secret", secret, {"AddPrefix": self._fn(add_prefix), "AddSuffix": self._fn(add_suffix)})

    # HttpService
    def _http_service(self) -> dict[str, Any]:
        lua = self.lua

        def request_async(_svc: Any, request: Any) -> None:
            req = self._request_fields(request)
            now = self.clock()
            recent = [r for r in self.requests if r.at > now - 60]
            if len(recent) >= HTTP_LIMIT_PER_MINUTE:
                raise RuntimeError("Number of requests exceeded limit")
            self.requests.append(req)
            ticket = next(self._seq)
            self._parked[ticket] = lua.current_thread()
            future = self._pool.submit(self._send, req)

            def finished(f: concurrent.futures.Future) -> None:
                outcome = f.exception() or f.result()
                self._inbox.put(("http", (ticket, outcome)))
                self._wake.set()

            future.add_done_callback(finished)
            lua.yield_with()

        def json_encode(_svc: Any, value: Any) -> str:
            return json.dumps(self._json_value(value, 0), separators=(",", ":"), ensure_ascii=False)

        def json_decode(_svc: Any, text: Any) -> Any:
            try:
                return self.to_lua(json.loads(self.to_python(text)))
            except json.JSONDecodeError as exc:
                raise RuntimeError("Can't parse JSON") from exc

        def generate_guid(_svc: Any, braces: Any = True) -> str:
            guid = str(uuid.uuid4()).upper()
            return "{" + guid + "}" if braces is not False else guid

        def get_secret(_svc: Any, name: Any) -> Any:
            name = self.to_python(name)
            if name not in self.secrets:
                raise RuntimeError("Can't find secret with given key")
            return self._secret(Secret(self.secrets[name]))

        return {
            "RequestAsync": self._fn(request_async),
            "JSONEncode": self._fn(json_encode),
            "JSONDecode": self._fn(json_decode),
            "GenerateGUID": self._fn(generate_guid),
            "GetSecret": self._fn(get_secret),
        }

    def _request_fields(self, request: Any) -> SentRequest:
        if not isinstance(request, pluau.Table):
            raise RuntimeError("Unable to cast value to Dictionary")
        fields = {self.to_python(k): v for k, v in request}
        unknown = set(fields) - {"Url", "Method", "Headers", "Body", "Compress"}
        if unknown:
            self._gap(f"RequestAsync field(s) {sorted(unknown)}")
        if "Compress" in fields:
            self._gap("RequestAsync Compress")
        url = self.to_python(fields.get("Url"))
        method = self.to_python(fields.get("Method") or "GET")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise RuntimeError("Url must be an http(s) URL")
        if method not in ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            raise RuntimeError(f"Method {method!r} is not supported")
        headers: dict[str, str] = {}
        raw_headers = fields.get("Headers")
        if raw_headers is not None:
            for key, value in raw_headers:
                name = self.to_python(key)
                if isinstance(value, pluau.UserData) and isinstance(value.data(), Secret):
                    headers[name] = value.data().value
                elif isinstance(value, (pluau.String, str)):
                    headers[name] = self.to_python(value)
                else:
                    raise RuntimeError(f"Header {name} must be a string or a Secret")
        body = fields.get("Body")
        if body is not None:
            if method in ("GET", "HEAD"):
                raise RuntimeError("Body cannot be sent with a GET or HEAD request")
            if not isinstance(body, (pluau.String, str)):
                raise RuntimeError("Body must be a string")
            body = self.to_python(body)
        return SentRequest(self.clock(), method, url, headers, body)

    def _send(self, req: SentRequest) -> dict[str, Any]:
        try:
            response = self._http.request(req.method, req.url, headers=req.headers, content=req.body)
        except httpx.ConnectError as exc:
            raise RuntimeError("HttpError: ConnectFail") from exc
        except httpx.TimeoutException as exc:
            raise RuntimeError("HttpError: Timedout") from exc
        except httpx.HTTPError as exc:
            raise RuntimeError("HttpError: NetFail") from exc
        return {
            "Success": 200 <= response.status_code < 300,
            "StatusCode": response.status_code,
            "StatusMessage": response.reason_phrase,
            "Headers": {k.lower(): v for k, v in response.headers.items()},
            "Body": response.text,
        }

    def _json_value(self, value: Any, depth: int) -> Any:
        if depth > 100:
            raise RuntimeError("Can't convert to JSON: nesting too deep")
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise RuntimeError("Can't convert to JSON: NaN or inf")
            return int(value) if value.is_integer() and abs(value) < 2**63 else value
        if isinstance(value, (pluau.String, str)):
            return self.to_python(value)
        if isinstance(value, pluau.Table):
            items = [(self.to_python(k), v) for k, v in value]
            keys = [k for k, _ in items]
            if not keys:
                return []
            if all(isinstance(k, int) for k in keys) and sorted(keys) == list(range(1, len(keys) + 1)):
                return [self._json_value(v, depth + 1) for _, v in sorted(items, key=lambda kv: kv[0])]
            if not all(isinstance(k, str) for k in keys):
                raise RuntimeError("Can't convert to JSON: table has mixed or non-string keys")
            return {k: self._json_value(v, depth + 1) for k, v in items}
        raise RuntimeError(f"Can't convert to JSON: {type(value).__name__}")

    # MessagingService
    def _messaging_service(self) -> dict[str, Any]:
        def subscribe_async(_svc: Any, topic: Any, callback: Any) -> Any:
            topic = self.to_python(topic)
            if not isinstance(topic, str) or not 0 < len(topic) <= 80:
                raise RuntimeError("Topic must be 1 to 80 characters")
            callbacks = self._subscriptions.setdefault(topic, [])
            callbacks.append(callback)

            def disconnect(_conn: Any) -> None:
                if callback in callbacks:
                    callbacks.remove(callback)

            return self._instance("RBXScriptConnection", object(), {"Disconnect": self._fn(disconnect)})

        return {"SubscribeAsync": self._fn(subscribe_async)}

    # Players
    def _players_service(self) -> dict[str, Any]:
        def get_player(_svc: Any, user_id: Any) -> Any:
            return self.players.get(int(user_id))

        def get_players(_svc: Any) -> Any:
            table = self.lua.create_table()
            for player in self.players.values():
                table.push(player)
            return table

        return {"GetPlayerByUserId": self._fn(get_player), "GetPlayers": self._fn(get_players)}
