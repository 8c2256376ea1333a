"""Writing money: single and batched transactions, reversals, and reading one transaction back."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from coffer_api import ledger
from coffer_api.deps import Conn, IdempotencyKey, Reader, Writer
from coffer_api.errors import NotFound
from coffer_api.routes import CURRENCY_PATTERN, USER_ID_MAX, JsonResponse, Problem, outcome_response, problems

router = APIRouter(tags=["transactions"])

UserId = Annotated[StrictInt, Field(ge=1, le=USER_ID_MAX, description="A Roblox user id", examples=[1])]
Currency = Annotated[str, Field(pattern=CURRENCY_PATTERN, examples=["coins"])]
Reason = Annotated[str, Field(min_length=1, max_length=200, examples=["shop:sword"])]
METADATA_MAX_BYTES = 4096


def _check_metadata(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = orjson.dumps(value)
    except orjson.JSONEncodeError:  # e.g. a lone UTF-16 surrogate, which PostgreSQL cannot store
        raise ValueError("metadata must be valid Unicode text") from None
    if len(encoded) > METADATA_MAX_BYTES:
        raise ValueError(f"metadata must be at most {METADATA_MAX_BYTES} bytes of JSON")
    if b"\\u0000" in encoded:
        raise ValueError("metadata must not contain the NUL character (\\u0000), which PostgreSQL cannot store")
    return value


def _check_text(value: str) -> str:
    value.encode()  # UnicodeEncodeError (a ValueError) for lone surrogates: a 422, not a 500
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (\\u0000), which PostgreSQL cannot store")
    return value


class EntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: UserId
    currency: Currency
    amount: Annotated[
        StrictInt,
        Field(ge=-(10**15), le=10**15, description="Non-zero; negative takes coins away", examples=[-50]),
    ]

    @field_validator("amount")
    @classmethod
    def _non_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("amount must not be 0")
        return value


class TransactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: Annotated[list[EntryIn], Field(min_length=1, max_length=100)]
    reason: Reason
    metadata: dict[str, Any] = Field(default_factory=dict, description="Any JSON object up to 4 KiB")

    _metadata_size = field_validator("metadata")(_check_metadata)
    _reason_text = field_validator("reason")(_check_text)

    @model_validator(mode="after")
    def _one_entry_per_account(self) -> "TransactionIn":
        seen = set()
        for entry in self.entries:
            account = (entry.user_id, entry.currency)
            if account in seen:
                raise ValueError(
                    f"user {entry.user_id} appears twice for {entry.currency}; combine the amounts into one entry"
                )
            seen.add(account)
        return self

    def posting(self, key: str) -> ledger.Posting:
        return ledger.Posting(
            key=key,
            reason=self.reason,
            metadata=self.metadata,
            entries=tuple(ledger.Entry(e.user_id, e.currency, e.amount) for e in self.entries),
        )


class EntryOut(BaseModel):
    user_id: int
    currency: str
    amount: int
    balance_after: int


class TransactionOut(BaseModel):
    id: UUID
    created_at: datetime
    reason: str
    metadata: dict[str, Any]
    entries: list[EntryOut]
    reverses: UUID | None


class BatchItemIn(TransactionIn):
    idempotency_key: Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    transactions: Annotated[list[BatchItemIn], Field(min_length=1, max_length=100)]


class BatchResultOut(BaseModel):
    status: int = Field(description="What POST /v1/transactions would have answered for this item")
    replayed: bool = Field(description="True when this is the stored reply of an earlier request")
    transaction: TransactionOut | None = None
    error: Problem | None = None


class BatchOut(BaseModel):
    results: list[BatchResultOut]


class ReversalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason = "reversal"
    metadata: dict[str, Any] = Field(default_factory=dict)

    _metadata_size = field_validator("metadata")(_check_metadata)
    _reason_text = field_validator("reason")(_check_text)


@router.post(
    "/v1/transactions",
    status_code=201,
    response_model=TransactionOut,
    responses=problems(400, 409),
    summary="Apply a transaction (atomic, idempotent)",
)
async def post_transaction(key: Writer, idempotency_key: IdempotencyKey, body: TransactionIn, conn: Conn):
    (outcome,) = await ledger.post_transactions(conn, [body.posting(idempotency_key)])
    return outcome_response(outcome)


@router.post(
    "/v1/transactions/batch",
    response_model=BatchOut,
    responses=problems(),
    summary="Apply up to 100 transactions, each atomically and idempotently on its own",
)
async def post_batch(key: Writer, body: BatchIn, conn: Conn):
    outcomes = await ledger.post_transactions(conn, [t.posting(t.idempotency_key) for t in body.transactions])
    results = []
    for outcome in outcomes:
        result: dict[str, Any] = {"status": outcome.status, "replayed": outcome.replayed}
        result["error" if outcome.status >= 400 else "transaction"] = outcome.body
        results.append(result)
    return JsonResponse({"results": results})


@router.get(
    "/v1/transactions/{transaction_id}",
    response_model=TransactionOut,
    responses=problems(404),
    summary="Read one transaction",
)
async def get_transaction(key: Reader, transaction_id: UUID, conn: Conn):
    body = await ledger.get_transaction(conn, transaction_id)
    if body is None:
        raise NotFound(f"No transaction has id {transaction_id}.")
    return JsonResponse(body)


@router.post(
    "/v1/transactions/{transaction_id}/reversal",
    status_code=201,
    response_model=TransactionOut,
    responses=problems(400, 404, 409),
    summary="Reverse a transaction: a new transaction with every entry negated",
)
async def reverse_transaction(
    key: Writer,
    idempotency_key: IdempotencyKey,
    transaction_id: Annotated[UUID, Path()],
    conn: Conn,
    body: ReversalIn | None = None,
):
    body = body or ReversalIn()
    outcome = await ledger.reverse_transaction(conn, idempotency_key, transaction_id, body.reason, body.metadata)
    if outcome is None:
        raise NotFound(f"No transaction has id {transaction_id}.")
    return outcome_response(outcome)
