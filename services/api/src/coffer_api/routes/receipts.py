"""Developer-product purchases, called from MarketplaceService.ProcessReceipt."""

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from coffer_api import receipts
from coffer_api.deps import Conn, Writer
from coffer_api.routes import USER_ID_MAX, outcome_response, problems
from coffer_api.routes.transactions import Currency, TransactionOut, UserId

router = APIRouter(tags=["receipts"])


class ReceiptIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    purchase_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    user_id: UserId
    product_id: Annotated[StrictInt, Field(ge=1, le=USER_ID_MAX)]
    currency: Currency
    amount: Annotated[StrictInt, Field(ge=1, le=10**15)]


class ReceiptOut(BaseModel):
    purchase_id: str
    transaction: TransactionOut


@router.post(
    "/v1/receipts",
    status_code=201,
    response_model=ReceiptOut,
    responses=problems(),
    summary="Grant a developer-product purchase exactly once",
)
async def post_receipt(key: Writer, body: ReceiptIn, conn: Conn):
    outcome = await receipts.post_receipt(
        conn, receipts.Receipt(body.purchase_id, body.user_id, body.product_id, body.currency, body.amount)
    )
    return outcome_response(outcome)
