"""Developer-product receipts: a purchase id grants its coins once, forever.

``coffer_post_receipt`` inserts the purchase id first, so a second server running ProcessReceipt
for the same purchase waits for the first and then replays its reply. A purchase that could not
be granted (unknown currency, overflow) leaves no trace, so the game can retry it later.
"""

from dataclasses import dataclass

import asyncpg

from coffer_api.ledger import Outcome


@dataclass(frozen=True, slots=True)
class Receipt:
    purchase_id: str
    user_id: int
    product_id: int
    currency: str
    amount: int


async def post_receipt(conn: asyncpg.Connection, receipt: Receipt) -> Outcome:
    row = await conn.fetchrow(
        "SELECT status, body::text AS body, replayed FROM coffer_post_receipt($1, $2, $3, $4, $5)",
        receipt.purchase_id,
        receipt.user_id,
        receipt.product_id,
        receipt.currency,
        receipt.amount,
    )
    return Outcome.from_row(row)
