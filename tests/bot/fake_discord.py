"""A small fake Discord for testing the real nextcord client: REST (aiohttp) and a gateway websocket.

What it does, as Discord does:
- REST: ``GET /users/@me`` (checks the bot token), ``GET /gateway[/bot]``, application commands
  (global and per guild: list, upsert, bulk overwrite, edit, delete), interaction callbacks,
  ``GET/PATCH/DELETE /webhooks/{app}/{token}/messages/@original`` and follow-ups.
- Gateway: HELLO, heartbeat ACKs, READY (with a local resume URL), GUILD_CREATE, then the
  INTERACTION_CREATE events a test sends with ``invoke``; frames are plain JSON text.
- Interaction rules: the first acknowledgement must arrive within 3 s (404, code 10062 after),
  a second acknowledgement is refused (400, code 40060), editing the original before any
  acknowledgement is refused (404, code 10008), and a member who lacks a command's
  ``default_member_permissions`` neither sees nor can run it (``visible_commands``, ``invoke``).
Every response, edit, follow-up and refusal is recorded on the ``FakeInteraction``.

JSON replies carry ``Content-Type: application/json`` exactly (nextcord parses nothing else).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

DISCORD_EPOCH_MS = 1420070400000
DEADLINE_SECONDS = 3.0
TOKEN_LIFETIME_SECONDS = 15 * 60
EPHEMERAL = 64
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
EVERYDAY = (1 << 10) | (1 << 11) | (1 << 31)  # view channel, send messages, use application commands

_counter = itertools.count(1)


def snowflake() -> str:
    """A snowflake for the current time, as Discord makes them."""
    return str(((int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22) | (next(_counter) % 4096))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, content_type="application/json")


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status)


class CommandHidden(Exception):
    """The member lacks the command's default_member_permissions: Discord would not offer it."""


@dataclass
class FakeUser:
    id: str
    name: str
    permissions: int = EVERYDAY

    def payload(self) -> dict[str, Any]:
        return {"id": self.id, "username": self.name, "global_name": self.name, "discriminator": "0", "avatar": None}

    def member(self) -> dict[str, Any]:
        return {
            "user": self.payload(),
            "roles": [],
            "joined_at": "2024-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "permissions": str(self.permissions),
        }


@dataclass
class FakeInteraction:
    id: str
    token: str
    command: str
    user: FakeUser
    created: float
    responses: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    followups: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[tuple[str, int, int]] = field(default_factory=list)  # (what, HTTP status, Discord code)
    original_deleted: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def acknowledged(self) -> bool:
        return bool(self.responses)

    @property
    def deferred(self) -> bool:
        return bool(self.responses) and self.responses[0]["type"] == 5

    @property
    def ephemeral(self) -> bool:
        """Whether the original response is ephemeral (fixed by the first response or the defer)."""
        data = (self.responses[0].get("data") or {}) if self.responses else {}
        return bool(int(data.get("flags") or 0) & EPHEMERAL)

    def original(self) -> dict[str, Any] | None:
        """The original response as the user sees it now (after edits), or None."""
        if not self.responses or self.original_deleted:
            return None
        message = dict(self.responses[0].get("data") or {})
        for edit in self.edits:
            message.update({k: v for k, v in edit.items() if v is not None})
        if self.deferred and not self.edits:
            return None  # still "thinking"
        return message

    def answered(self) -> bool:
        return self.original() is not None or bool(self.followups)

    def text(self) -> str:
        """Everything the user sees: contents and embed titles, descriptions and fields."""
        messages = [m for m in [self.original(), *self.followups] if m]
        parts: list[str] = []
        for message in messages:
            parts.append(message.get("content") or "")
            for embed in message.get("embeds") or []:
                parts.extend([embed.get("title") or "", embed.get("description") or ""])
                for f in embed.get("fields") or []:
                    parts.extend([f["name"], f["value"]])
        return "\n".join(p for p in parts if p)

    async def wait_answered(self, timeout: float = 20) -> FakeInteraction:
        deadline = time.monotonic() + timeout
        while not self.answered():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"/{self.command} was not answered in {timeout} s: {self.responses=}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                continue
        return self


class FakeDiscord:
    def __init__(self, token: str = "fake-bot-token") -> None:  # noqa: S107
        self.token = token
        self.application_id = snowflake()
        self.bot_user = FakeUser(self.application_id, "coffer")
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        # guild id (None: global) -> command name -> registered command
        self.commands: dict[str | None, dict[str, dict[str, Any]]] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        self._by_token: dict[str, FakeInteraction] = {}
        self.sockets: list[web.WebSocketResponse] = []
        self.identified = asyncio.Event()
        self.commands_changed = asyncio.Event()
        self.requests: list[tuple[str, str]] = []
        self._sequence = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

        app = web.Application(middlewares=[self._record])
        api = "/api/v10"
        app.add_routes(
            [
                web.get(f"{api}/users/@me", self._me),
                web.get(f"{api}/gateway", self._gateway_url),
                web.get(f"{api}/gateway/bot", self._gateway_url),
                web.get(f"{api}/applications/{{app}}/commands", self._list_commands),
                web.post(f"{api}/applications/{{app}}/commands", self._upsert_command),
                web.put(f"{api}/applications/{{app}}/commands", self._overwrite_commands),
                web.patch(f"{api}/applications/{{app}}/commands/{{id}}", self._edit_command),
                web.delete(f"{api}/applications/{{app}}/commands/{{id}}", self._delete_command),
                web.get(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._list_commands),
                web.post(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._upsert_command),
                web.put(f"{api}/applications/{{app}}/guilds/{{guild}}/commands", self._overwrite_commands),
                web.patch(f"{api}/applications/{{app}}/guilds/{{guild}}/commands/{{id}}", self._edit_command),
                web.delete(f"{api}/applications/{{app}}/guilds/{{guild}}/commands/{{id}}", self._delete_command),
                web.post(f"{api}/interactions/{{id}}/{{token}}/callback", self._callback),
                web.get(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._get_original),
                web.patch(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._edit_original),
                web.delete(f"{api}/webhooks/{{app}}/{{token}}/messages/@original", self._delete_original),
                web.post(f"{api}/webhooks/{{app}}/{{token}}", self._followup),
                web.get("/gateway", self._gateway),
            ]
        )
        self.app = app

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.requests.append((request.method, request.path))
        # webhook and interaction routes are authorized by the interaction token in the path
        needs_bot_token = request.path.startswith("/api/") and not any(
            part in request.path for part in ("/webhooks/", "/interactions/")
        )
        if needs_bot_token and request.headers.get("Authorization") != f"Bot {self.token}":
            return _error(401, 0, "401: Unauthorized")
        return await handler(request)

    # --- REST: login, gateway, commands ------------------------------------------------------

    async def _me(self, request: web.Request) -> web.Response:
        return _json({**self.bot_user.payload(), "bot": True, "flags": 0, "mfa_enabled": False, "verified": True})

    async def _gateway_url(self, request: web.Request) -> web.Response:
        body: dict[str, Any] = {"url": self.gateway_url}
        if request.path.endswith("/bot"):
            body |= {
                "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
            }
        return _json(body)

    def _scope(self, request: web.Request) -> str | None:
        return request.match_info.get("guild")

    def _register(self, scope: str | None, payload: dict[str, Any]) -> dict[str, Any]:
        commands = self.commands.setdefault(scope, {})
        existing = commands.get(payload["name"])
        command = {
            "type": 1,
            "options": [],
            "default_member_permissions": None,
            **payload,
            "id": existing["id"] if existing else snowflake(),
            "application_id": self.application_id,
            "version": snowflake(),
        }
        if scope:
            command["guild_id"] = scope
        commands[payload["name"]] = command
        self.commands_changed.set()
        return command

    async def _list_commands(self, request: web.Request) -> web.Response:
        return _json(list(self.commands.get(self._scope(request), {}).values()))

    async def _upsert_command(self, request: web.Request) -> web.Response:
        return _json(self._register(self._scope(request), await request.json()), 201)

    async def _overwrite_commands(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        self.commands[scope] = {}
        return _json([self._register(scope, payload) for payload in await request.json()])

    def _find(self, scope: str | None, command_id: str) -> dict[str, Any] | None:
        return next((c for c in self.commands.get(scope, {}).values() if c["id"] == command_id), None)

    async def _edit_command(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        command = self._find(scope, request.match_info["id"])
        if command is None:
            return _error(404, 10063, "Unknown application command")
        return _json(self._register(scope, {**command, **await request.json()}))

    async def _delete_command(self, request: web.Request) -> web.Response:
        scope = self._scope(request)
        command = self._find(scope, request.match_info["id"])
        if command is None:
            return _error(404, 10063, "Unknown application command")
        del self.commands[scope][command["name"]]
        self.commands_changed.set()
        return web.Response(status=204)

    async def wait_commands(self, names: set[str], guild_id: str | None = None, timeout: float = 30) -> None:
        """Wait until the bot registered these commands (registration can finish after READY)."""
        scope = guild_id or self.guild_id
        deadline = time.monotonic() + timeout
        while not names <= set(self.commands.get(scope, {})):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"commands registered: {sorted(self.commands.get(scope, {}))}")
            self.commands_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.commands_changed.wait(), min(remaining, 0.5))

    def command(self, name: str) -> dict[str, Any]:
        return self.commands.get(self.guild_id, {}).get(name) or self.commands[None][name]

    @staticmethod
    def _can_use(command: dict[str, Any], permissions: int) -> bool:
        required = command.get("default_member_permissions")
        if required is None or permissions & ADMINISTRATOR:
            return True
        return permissions & int(required) == int(required)

    def visible_commands(self, user: FakeUser) -> set[str]:
        """The commands Discord shows this member in the guild."""
        every = {**self.commands.get(None, {}), **self.commands.get(self.guild_id, {})}
        return {name for name, c in every.items() if self._can_use(c, user.permissions)}

    # --- REST: interactions ------------------------------------------------------------------

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    return json.loads(await part.text())
            return {}
        if not request.can_read_body:
            return {}
        return await request.json()

    def _message(self, interaction: FakeInteraction, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": snowflake(),
            "channel_id": self.channel_id,
            "author": {**self.bot_user.payload(), "bot": True},
            "content": data.get("content") or "",
            "timestamp": "2024-01-01T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": data.get("embeds") or [],
            "pinned": False,
            "type": 20,
            "flags": int(data.get("flags") or 0),
            "application_id": self.application_id,
            "webhook_id": self.application_id,
        }

    async def _callback(self, request: web.Request) -> web.Response:
        interaction = self.interactions.get(request.match_info["id"])
        if interaction is None or interaction.token != request.match_info["token"]:
            return _error(404, 10062, "Unknown interaction")
        body = await self._payload(request)
        if time.monotonic() - interaction.created > DEADLINE_SECONDS:
            interaction.refusals.append(("callback", 404, 10062))
            interaction.changed.set()
            return _error(404, 10062, "Unknown interaction")
        if interaction.acknowledged:
            interaction.refusals.append(("callback", 400, 40060))
            interaction.changed.set()
            return _error(400, 40060, "Interaction has already been acknowledged.")
        interaction.responses.append(body)
        interaction.changed.set()
        return web.Response(status=204)

    def _webhook_interaction(self, request: web.Request) -> FakeInteraction | web.Response:
        interaction = self._by_token.get(request.match_info["token"])
        if interaction is None or time.monotonic() - interaction.created > TOKEN_LIFETIME_SECONDS:
            return _error(404, 10015, "Unknown Webhook")
        return interaction

    async def _get_original(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        if isinstance(interaction, web.Response):
            return interaction
        if not interaction.acknowledged or interaction.original_deleted:
            return _error(404, 10008, "Unknown Message")
        return _json(self._message(interaction, interaction.original() or {}))

    async def _edit_original(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        if isinstance(interaction, web.Response):
            return interaction
        body = await self._payload(request)
        if not interaction.acknowledged or interaction.original_deleted:
            interaction.refusals.append(("edit", 404, 10008))
            interaction.changed.set()
            return _error(404, 10008, "Unknown Message")
        interaction.edits.append(body)
        interaction.changed.set()
        return _json(self._message(interaction, interaction.original() or {}))

    async def _delete_original(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        if isinstance(interaction, web.Response):
            return interaction
        if not interaction.acknowledged or interaction.original_deleted:
            return _error(404, 10008, "Unknown Message")
        interaction.original_deleted = True
        interaction.changed.set()
        return web.Response(status=204)

    async def _followup(self, request: web.Request) -> web.Response:
        interaction = self._webhook_interaction(request)
        if isinstance(interaction, web.Response):
            return interaction
        body = await self._payload(request)
        if not interaction.acknowledged:
            interaction.refusals.append(("followup", 404, 10015))
            return _error(404, 10015, "Unknown Webhook")
        interaction.followups.append(body)
        interaction.changed.set()
        return _json(self._message(interaction, body))

    # --- gateway -----------------------------------------------------------------------------

    async def _send(self, ws: web.WebSocketResponse, op: int, d: Any, t: str | None = None) -> None:
        seq = next(self._sequence) if op == 0 else None
        await ws.send_str(json.dumps({"op": op, "d": d, "s": seq, "t": t}))

    def _guild(self) -> dict[str, Any]:
        return {
            "id": self.guild_id,
            "name": "coffer test server",
            "owner_id": snowflake(),
            "icon": None,
            "roles": [
                {
                    "id": self.guild_id,
                    "name": "@everyone",
                    "permissions": str(EVERYDAY),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "channels": [
                {
                    "id": self.channel_id,
                    "type": 0,
                    "name": "general",
                    "position": 0,
                    "permission_overwrites": [],
                    "guild_id": self.guild_id,
                }
            ],
            "threads": [],
            "members": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "member_count": 2,
            "large": False,
            "unavailable": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "system_channel_flags": 0,
            "afk_timeout": 300,
        }

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await self._send(ws, 10, {"heartbeat_interval": 41250})
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                if frame["op"] == 1:  # heartbeat
                    await self._send(ws, 11, None)
                elif frame["op"] == 2:  # identify
                    if frame["d"].get("token") != self.token:
                        await ws.close(code=4004, message=b"Authentication failed.")
                        break
                    await self._send(
                        ws,
                        0,
                        {
                            "v": 10,
                            "user": {**self.bot_user.payload(), "bot": True},
                            "guilds": [{"id": self.guild_id, "unavailable": True}],
                            "session_id": snowflake(),
                            "resume_gateway_url": self.gateway_url,
                            "application": {"id": self.application_id, "flags": 0},
                            "_trace": ["fake-discord"],
                        },
                        "READY",
                    )
                    await self._send(ws, 0, self._guild(), "GUILD_CREATE")
                    self.sockets.append(ws)
                    self.identified.set()
                elif frame["op"] == 6:  # resume: this fake keeps no sessions
                    await self._send(ws, 9, False)
        finally:
            if ws in self.sockets:
                self.sockets.remove(ws)
        return ws

    async def invoke(
        self,
        name: str,
        user: FakeUser,
        options: dict[str, Any] | None = None,
        *,
        users: dict[str, FakeUser] | None = None,
        interaction_id: str | None = None,
        token: str | None = None,
    ) -> FakeInteraction:
        """A member runs a slash command: send INTERACTION_CREATE and record what the bot answers.

        ``users`` resolves user options (option name -> the member chosen). Passing the id and token of
        an earlier interaction redelivers that interaction (as after a gateway resume).
        """
        command = self.command(name)
        if not self._can_use(command, user.permissions):
            raise CommandHidden(f"/{name} needs permissions {command['default_member_permissions']}")
        if not self.sockets:
            raise RuntimeError("the bot is not connected to the gateway")
        options = options or {}
        users = users or {}
        data: dict[str, Any] = {"id": command["id"], "name": name, "type": 1, "guild_id": self.guild_id}
        data_options, resolved_users, resolved_members = [], {}, {}
        for option in command.get("options") or []:
            if option["name"] in users:
                chosen = users[option["name"]]
                data_options.append({"name": option["name"], "type": option["type"], "value": chosen.id})
                resolved_users[chosen.id] = chosen.payload()
                member = chosen.member()
                del member["user"]
                resolved_members[chosen.id] = member
            elif option["name"] in options:
                data_options.append({"name": option["name"], "type": option["type"], "value": options[option["name"]]})
        if data_options:
            data["options"] = data_options
        if resolved_users:
            data["resolved"] = {"users": resolved_users, "members": resolved_members}
        if interaction_id and interaction_id in self.interactions:
            interaction = self.interactions[interaction_id]
        else:
            interaction = FakeInteraction(
                id=interaction_id or snowflake(),
                token=token or f"token-{snowflake()}",
                command=name,
                user=user,
                created=time.monotonic(),
            )
            self.interactions[interaction.id] = interaction
            self._by_token[interaction.token] = interaction
        event = {
            "id": interaction.id,
            "application_id": self.application_id,
            "type": 2,
            "data": data,
            "guild_id": self.guild_id,
            "guild": {"id": self.guild_id, "locale": "en-US", "features": []},
            "channel_id": self.channel_id,
            "channel": {"id": self.channel_id, "type": 0},
            "member": user.member(),
            "token": interaction.token,
            "version": 1,
            "app_permissions": str(EVERYDAY),
            "locale": "en-US",
            "guild_locale": "en-US",
            "entitlements": [],
            "authorizing_integration_owners": {"0": self.guild_id},
            "context": 0,
        }
        for ws in self.sockets:
            await self._send(ws, 0, event, "INTERACTION_CREATE")
        return interaction
