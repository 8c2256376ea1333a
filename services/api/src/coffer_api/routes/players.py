"""Reading players: balances (one or up to 100 at once) and transaction history."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from coffer_api import ledger
from coffer_api.deps import Conn, Reader
from coffer_api.errors import ValidationFailed
from coffer_api.routes import CURRENCY_PATTERN, USER_ID_MAX, JsonResponse, problems
from coffer_api.routes.transactions import TransactionOut, UserId

router = APIRouter(tags=["players"])

UserIdPath = Annotated[int, Path(ge=1, le=USER_ID_MAX, description="A Roblox user id")]


class BalancesOut(BaseModel):
    user_id: int
    balances: dict[str, int] = Field(examples=[{"coins": 0}])


class BalancesQueryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_ids: Annotated[list[UserId], Field(min_length=1, max_length=100)]


class BalancesQueryOut(BaseModel):
    players: list[BalancesOut]


class HistoryOut(BaseModel):
    transactions: list[TransactionOut]
    next_cursor: str | None


@router.get(
    "/v1/players/{user_id}/balances",
    response_model=BalancesOut,
    responses=problems(),
    summary="A player's balance in every currency",
)
async def get_balances(key: Reader, user_id: UserIdPath, conn: Conn):
    (player,) = await ledger.player_balances(conn, [user_id])
    return JsonResponse({"user_id": player.user_id, "balances": player.balances})


@router.post(
    "/v1/balances/query",
    response_model=BalancesQueryOut,
    responses=problems(),
    summary="Balances of up to 100 players, in request order",
)
async def query_balances(key: Reader, body: BalancesQueryIn, conn: Conn):
    players = await ledger.player_balances(conn, body.user_ids)
    return JsonResponse({"players": [{"user_id": p.user_id, "balances": p.balances} for p in players]})


@router.get(
    "/v1/players/{user_id}/transactions",
    response_model=HistoryOut,
    responses=problems(),
    summary="A player's transactions, newest first (keyset pagination)",
)
async def get_history(
    key: Reader,
    user_id: UserIdPath,
    conn: Conn,
    currency: Annotated[str | None, Query(pattern=CURRENCY_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=16, description="next_cursor of the previous page")] = None,
):
    before = None
    if cursor is not None:
        before = ledger.decode_cursor(cursor)
        if before is None:
            raise ValidationFailed("cursor is not a next_cursor value from this endpoint.")
    page = await ledger.player_history(conn, user_id, currency, limit, before)
    return JsonResponse({"transactions": page.transactions, "next_cursor": page.next_cursor})
