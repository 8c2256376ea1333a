"""Linking Discord and Roblox accounts: link codes for the bot, confirmation for game servers.

Codes are secrets shown once, so ``POST /v1/links/codes`` takes no Idempotency-Key (a retry makes
a new code that replaces the first). ``POST /v1/links/confirm`` is safe to retry: the same code
confirmed again for the same user answers the same 200 until the code expires.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from coffer_api import links
from coffer_api.deps import Conn, Reader, Writer
from coffer_api.errors import NotFound
from coffer_api.routes import JsonResponse, problems
from coffer_api.routes.transactions import UserId

router = APIRouter(tags=["links"])

DISCORD_ID_PATTERN = r"^[0-9]{1,20}$"
DiscordUserId = Annotated[
    str, Field(pattern=DISCORD_ID_PATTERN, description="A Discord user id (snowflake) as a string", examples=["1"])
]
DiscordUserIdPath = Annotated[str, Path(pattern=DISCORD_ID_PATTERN, description="A Discord user id (snowflake)")]


class LinkCodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    discord_user_id: DiscordUserId


class LinkCodeOut(BaseModel):
    code: str = Field(description="6 characters from ABCDEFGHJKMNPQRSTUVWXYZ23456789", examples=["K7PQ2M"])
    expires_at: datetime


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, Field(min_length=1, max_length=32, description="Case and spaces do not matter")]
    user_id: UserId


class ConfirmOut(BaseModel):
    discord_user_id: str
    user_id: int


class LinkOut(BaseModel):
    discord_user_id: str
    user_id: int
    linked_at: datetime


def _link_body(link: links.Link) -> dict:
    return {"discord_user_id": link.discord_user_id, "user_id": link.user_id, "linked_at": link.linked_at}


@router.post(
    "/v1/links/codes",
    status_code=201,
    response_model=LinkCodeOut,
    responses=problems(),
    summary="A one-time link code for a Discord user (valid 10 minutes; replaces their unused codes)",
)
async def create_code(key: Writer, body: LinkCodeIn, conn: Conn):
    code = await links.create_code(conn, body.discord_user_id)
    return JsonResponse({"code": code.code, "expires_at": code.expires_at}, status_code=201)


@router.post(
    "/v1/links/confirm",
    response_model=ConfirmOut,
    responses=problems(404),
    summary="Use a link code for a Roblox user (called by the game server)",
    description=(
        "Links the code's Discord user to `user_id`, replacing any earlier link of either account. "
        "404 `link_code_invalid` for unknown, expired or used codes. After 5 wrong codes for one player, or 200 "
        "for one API key, within a 10-minute window: 429 `link_attempts_exceeded` with Retry-After."
    ),
)
async def confirm(key: Writer, body: ConfirmIn, conn: Conn):
    link = await links.confirm_code(conn, key.id, body.code, body.user_id)
    return JsonResponse({"discord_user_id": link.discord_user_id, "user_id": link.user_id})


@router.get(
    "/v1/links/discord/{discord_user_id}",
    response_model=LinkOut,
    responses=problems(404),
    summary="The Roblox account linked to a Discord user",
)
async def get_link(key: Reader, discord_user_id: DiscordUserIdPath, conn: Conn):
    link = await links.get_link(conn, discord_user_id)
    if link is None:
        raise NotFound(f"Discord user {discord_user_id} is not linked to a Roblox account.")
    return JsonResponse(_link_body(link))


@router.delete(
    "/v1/links/discord/{discord_user_id}",
    status_code=204,
    responses=problems(404),
    summary="Unlink a Discord user",
)
async def delete_link(key: Writer, discord_user_id: DiscordUserIdPath, conn: Conn):
    link = await links.unlink(conn, discord_user_id)
    if link is None:
        raise NotFound(f"Discord user {discord_user_id} is not linked to a Roblox account.")
    return Response(status_code=204)
