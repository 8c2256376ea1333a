"""The bot's client of the coffer API: every write (money, link codes, unlinking) goes through here.

The bot authenticates with an API key of its own (scopes read,write). Grants and revokes carry an
Idempotency-Key derived from the Discord interaction id, so a retried or redelivered interaction
is applied once; transport errors on those are retried once with the same key.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from coffer_bot.errors import ApiRefused, Unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LinkCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Posted:
    """A grant or revoke the API applied (or had applied before, when ``replayed``)."""

    transaction_id: str
    balance_after: int
    replayed: bool


@dataclass(frozen=True, slots=True)
class HistoryItem:
    transaction_id: str
    created_at: datetime
    reason: str
    amount: int
    currency: str
    balance_after: int


class CofferApi:
    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "coffer-bot"},
            timeout=timeout,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, *, retries: int = 0, **kwargs: Any) -> httpx.Response:
        for attempt in range(retries + 1):
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt < retries:
                    await asyncio.sleep(0.5)
                    continue
                raise Unavailable("API", type(exc).__name__) from exc
            if response.status_code >= 500:
                if attempt < retries:
                    await asyncio.sleep(0.5)
                    continue
                raise Unavailable("API", f"HTTP {response.status_code}")
            if response.status_code >= 400:
                try:
                    body = response.json()
                except ValueError:
                    body = {}
                raise ApiRefused(
                    response.status_code,
                    str(body.get("code", "error")),
                    str(body.get("detail", f"HTTP {response.status_code}")),
                    body,
                )
            return response
        raise AssertionError("unreachable")

    async def create_link_code(self, discord_user_id: int) -> LinkCode:
        response = await self._request("POST", "/v1/links/codes", json={"discord_user_id": str(discord_user_id)})
        body = response.json()
        return LinkCode(body["code"], datetime.fromisoformat(body["expires_at"]))

    async def unlink(self, discord_user_id: int) -> bool:
        """True when a link was removed, False when there was none."""
        try:
            await self._request("DELETE", f"/v1/links/discord/{discord_user_id}")
        except ApiRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def post_change(
        self,
        *,
        idempotency_key: str,
        user_id: int,
        currency: str,
        amount: int,
        reason: str,
        metadata: dict[str, Any],
    ) -> Posted:
        """Grant (amount > 0) or revoke (amount < 0) coins in one API transaction."""
        response = await self._request(
            "POST",
            "/v1/transactions",
            retries=1,
            headers={"Idempotency-Key": idempotency_key},
            json={
                "entries": [{"user_id": user_id, "currency": currency, "amount": amount}],
                "reason": reason,
                "metadata": metadata,
            },
        )
        body = response.json()
        return Posted(
            body["id"],
            body["entries"][0]["balance_after"],
            response.headers.get("Idempotent-Replayed") == "true",
        )

    async def history(self, user_id: int, limit: int = 10) -> list[HistoryItem]:
        response = await self._request("GET", f"/v1/players/{user_id}/transactions", params={"limit": limit})
        items = []
        for transaction in response.json()["transactions"]:
            for entry in transaction["entries"]:
                if entry["user_id"] == user_id:
                    items.append(
                        HistoryItem(
                            transaction["id"],
                            datetime.fromisoformat(transaction["created_at"]),
                            transaction["reason"],
                            entry["amount"],
                            entry["currency"],
                            entry["balance_after"],
                        )
                    )
        return items
