"""The API's one error tree, rendered once at the edge as RFC 9457 problem+json.

Every error body has ``type``, ``title``, ``status``, ``detail`` and a stable machine ``code``
(``type`` is ``urn:coffer:error:<code>``). Codes, by status:

- 400 ``idempotency_key_missing``, ``idempotency_key_invalid``
- 401 ``unauthenticated`` (missing, unknown or revoked API key), ``invalid_signature`` (webhooks)
- 403 ``forbidden`` (the key lacks the scope)
- 404 ``not_found``, ``link_code_invalid``
- 409 ``insufficient_funds``, ``already_reversed`` (a request whose Idempotency-Key is still in
  flight waits for the first one and then gets its reply, so there is no ``request_in_progress``)
- 413 ``payload_too_large``
- 422 ``validation_error`` (with ``errors``), ``unknown_currency``, ``balance_overflow``,
  ``idempotency_key_reused``, ``purchase_id_reused``
- 429 ``rate_limited``, ``link_attempts_exceeded`` (with ``Retry-After``)
- 500 ``internal_error`` (a bug: logged with the request id, never with secrets)
- 503 ``database_unavailable``, ``overloaded`` (with ``Retry-After``)
- 503 ``webhook_not_configured`` (COFFER_ROBLOX_WEBHOOK_SECRET is not set)

Ledger outcomes computed inside PostgreSQL arrive as ``{"code", "detail", ...}`` and are rendered
by ``problem_body`` too, so a replayed reply is byte-for-byte the first one.
"""

from typing import Any

import orjson

TITLES: dict[str, str] = {
    "idempotency_key_missing": "Idempotency-Key header required",
    "idempotency_key_invalid": "Idempotency-Key header invalid",
    "unauthenticated": "Missing or invalid API key",
    "invalid_signature": "Invalid webhook signature",
    "forbidden": "API key lacks the required scope",
    "not_found": "Not found",
    "link_code_invalid": "Link code invalid",
    "insufficient_funds": "Insufficient funds",
    "already_reversed": "Transaction already reversed",
    "payload_too_large": "Request body too large",
    "validation_error": "Request invalid",
    "unknown_currency": "Unknown currency",
    "balance_overflow": "Balance overflow",
    "idempotency_key_reused": "Idempotency-Key reused with a different request",
    "purchase_id_reused": "Purchase id reused with different fields",
    "rate_limited": "Rate limit exceeded",
    "link_attempts_exceeded": "Too many wrong link codes",
    "internal_error": "Internal error",
    "database_unavailable": "Database unavailable",
    "overloaded": "Server busy",
    "webhook_not_configured": "Webhook not configured",
}


def problem_body(status: int, code: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"urn:coffer:error:{code}",
        "title": TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }


def render_outcome(status: int, body: dict[str, Any]) -> dict[str, Any]:
    """Turn a ledger outcome from PostgreSQL into the reply body (problem+json for errors)."""
    if status < 400:
        return body
    extra = {k: v for k, v in body.items() if k not in ("code", "detail")}
    return problem_body(status, body["code"], body["detail"], **extra)


class CofferError(Exception):
    """Base of every error the API answers with on purpose."""

    status = 500
    code = "internal_error"

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> bytes:
        return orjson.dumps(problem_body(self.status, self.code, self.detail, **self.extra))


class IdempotencyKeyMissing(CofferError):
    status, code = 400, "idempotency_key_missing"


class IdempotencyKeyInvalid(CofferError):
    status, code = 400, "idempotency_key_invalid"


class Unauthenticated(CofferError):
    status, code = 401, "unauthenticated"


class InvalidSignature(CofferError):
    status, code = 401, "invalid_signature"


class Forbidden(CofferError):
    status, code = 403, "forbidden"


class NotFound(CofferError):
    status, code = 404, "not_found"


class LinkCodeInvalid(CofferError):
    status, code = 404, "link_code_invalid"


class PayloadTooLarge(CofferError):
    status, code = 413, "payload_too_large"


class ValidationFailed(CofferError):
    status, code = 422, "validation_error"


class UnknownCurrency(CofferError):
    status, code = 422, "unknown_currency"


class RateLimited(CofferError):
    status, code = 429, "rate_limited"


class LinkAttemptsExceeded(CofferError):
    status, code = 429, "link_attempts_exceeded"


class DatabaseUnavailable(CofferError):
    status, code = 503, "database_unavailable"


class Overloaded(CofferError):
    status, code = 503, "overloaded"


class WebhookNotConfigured(CofferError):
    status, code = 503, "webhook_not_configured"
