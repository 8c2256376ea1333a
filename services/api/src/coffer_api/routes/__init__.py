"""The thin HTTP layer: request and response models beside their routes, SQL in the domain modules."""

from typing import Any

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field

from coffer_api.ledger import Outcome

USER_ID_MAX = 2**63 - 1
CURRENCY_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


class Problem(BaseModel):
    """An RFC 9457 problem; ``code`` is stable and meant for programs."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(examples=["urn:coffer:error:insufficient_funds"])
    title: str
    status: int
    detail: str
    code: str = Field(examples=["insufficient_funds"])


_DESCRIPTIONS = {
    400: "Missing or invalid Idempotency-Key",
    401: "Missing, unknown or revoked API key",
    403: "The API key lacks the scope",
    404: "Not found",
    409: "Conflict (insufficient_funds, already_reversed)",
    413: "Request body over 64 KiB",
    422: "Invalid request (validation_error, unknown_currency, balance_overflow, idempotency_key_reused)",
    429: "Rate limit exceeded; see Retry-After",
    503: "Database unavailable or overloaded; see Retry-After",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error replies a route can give."""
    every = (401, 403, 413, 422, 429, 503)
    return {
        status: {
            "model": Problem,
            "description": _DESCRIPTIONS[status],
            "content": {"application/problem+json": {}},
        }
        for status in sorted(set(statuses) | set(every))
    }


class JsonResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def outcome_response(outcome: Outcome) -> Response:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    if outcome.status >= 400:
        return Response(orjson.dumps(outcome.body), outcome.status, headers, media_type="application/problem+json")
    return Response(orjson.dumps(outcome.body), outcome.status, headers, media_type="application/json")
