"""Leaderboards: the richest players of a currency (the issuer is never listed)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from coffer_api import ledger
from coffer_api.deps import Conn, Reader
from coffer_api.errors import UnknownCurrency
from coffer_api.routes import CURRENCY_PATTERN, JsonResponse, problems

router = APIRouter(tags=["leaderboards"])


class LeaderboardEntryOut(BaseModel):
    rank: int
    user_id: int
    balance: int


class LeaderboardOut(BaseModel):
    currency: str
    entries: list[LeaderboardEntryOut]


@router.get(
    "/v1/leaderboards/{currency}",
    response_model=LeaderboardOut,
    responses=problems(),
    summary="Top players of a currency",
)
async def get_leaderboard(
    key: Reader,
    currency: Annotated[str, Path(pattern=CURRENCY_PATTERN)],
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
):
    if not await ledger.currency_exists(conn, currency):
        raise UnknownCurrency(f'Currency "{currency}" does not exist.', currency=currency)
    rows = await ledger.leaderboard(conn, currency, limit)
    return JsonResponse(
        {
            "currency": currency,
            "entries": [{"rank": r.rank, "user_id": r.user_id, "balance": r.balance} for r in rows],
        }
    )
