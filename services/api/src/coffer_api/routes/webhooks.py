"""Roblox creator webhooks (Creator Dashboard -> Webhooks): right-to-erasure requests.

No API key: the ``roblox-signature`` header, an HMAC-SHA256 under COFFER_ROBLOX_WEBHOOK_SECRET,
is the authentication. The route only verifies and queues (Roblox wants 2xx within 5 seconds);
the erasure worker (coffer_api.erasure) applies the request. Answers:

- 202 ``queued``: a RightToErasureRequest was stored durably; 200 ``duplicate`` when this
  NotificationId was received before (it is applied once);
- 200 ``ok`` for the dashboard's SampleNotification; 200 ``ignored`` for any other event type;
- 401 ``invalid_signature`` (missing, wrong or more than 5 minutes old); 422 for a signed body
  that is not a notification; 503 ``webhook_not_configured`` when no secret is set.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from coffer_api import erasure
from coffer_api.deps import AppSettings
from coffer_api.errors import Overloaded, ValidationFailed, WebhookNotConfigured
from coffer_api.routes import USER_ID_MAX, JsonResponse, Problem

router = APIRouter(tags=["webhooks"])


class NotificationIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    notification_id: Annotated[str, Field(alias="NotificationId", min_length=1, max_length=200)]
    event_type: Annotated[str, Field(alias="EventType", min_length=1, max_length=200)]
    event_payload: Annotated[dict[str, Any], Field(alias="EventPayload", default_factory=dict)]


class ErasurePayloadIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    user_id: Annotated[StrictInt, Field(alias="UserId", ge=1, le=USER_ID_MAX)]


class WebhookOut(BaseModel):
    notification_id: str
    status: str = Field(description="queued, duplicate, ok (SampleNotification) or ignored (other events)")


def _problem_responses() -> dict[int | str, dict[str, Any]]:
    described = {
        401: "Missing, wrong or stale roblox-signature",
        422: "A signed body that is not a Roblox notification",
        503: "COFFER_ROBLOX_WEBHOOK_SECRET is not set, or the database is unavailable",
    }
    return {
        status: {"model": Problem, "description": text, "content": {"application/problem+json": {}}}
        for status, text in described.items()
    }


def _validation_error(exc: ValidationError) -> ValidationFailed:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return ValidationFailed(f"{where}: {first['msg']}")


@router.post(
    "/v1/webhooks/roblox",
    response_model=WebhookOut,
    status_code=202,
    responses={200: {"model": WebhookOut, "description": "Sample, duplicate or ignored event"}, **_problem_responses()},
    summary="Roblox creator webhook: queue a right-to-erasure request (signed; no API key)",
)
async def roblox_webhook(
    request: Request,
    settings: AppSettings,
    signature: Annotated[str | None, Header(alias="roblox-signature")] = None,
):
    if settings.roblox_webhook_secret is None:
        raise WebhookNotConfigured(
            "Roblox webhooks are not set up on this server: set COFFER_ROBLOX_WEBHOOK_SECRET to the webhook's "
            "secret from the Creator Dashboard."
        )
    body = await request.body()
    erasure.verify_signature(settings.roblox_webhook_secret.get_secret_value(), signature, body)
    try:
        notification = NotificationIn.model_validate_json(body)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    if notification.event_type == erasure.SAMPLE_EVENT:
        return JsonResponse({"notification_id": notification.notification_id, "status": "ok"}, 200)
    if notification.event_type != erasure.ERASURE_EVENT:
        return JsonResponse({"notification_id": notification.notification_id, "status": "ignored"}, 200)
    try:
        payload = ErasurePayloadIn.model_validate(notification.event_payload)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    # a database connection only for signed requests, so unsigned floods cannot tie up the pool
    state = request.app.state
    try:
        conn = await state.pool.acquire(timeout=settings.db_pool_timeout_seconds)
    except TimeoutError:
        raise Overloaded(
            "Every database connection is busy; retry in a moment.", headers={"Retry-After": "1"}
        ) from None
    try:
        queued = await erasure.enqueue(conn, notification.notification_id, payload.user_id)
    finally:
        await state.pool.release(conn)
    if not queued:
        return JsonResponse({"notification_id": notification.notification_id, "status": "duplicate"}, 200)
    wake = getattr(request.app.state, "erasure_wake", None)
    if wake is not None:
        wake.set()
    return JsonResponse({"notification_id": notification.notification_id, "status": "queued"}, 202)
