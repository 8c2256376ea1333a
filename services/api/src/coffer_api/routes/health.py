"""Liveness, readiness and metrics: no authentication, for load balancers and Prometheus."""

import asyncio

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from coffer_api import metrics
from coffer_api.errors import DatabaseUnavailable
from coffer_api.routes import JsonResponse, Problem

router = APIRouter(tags=["health"])


class Status(BaseModel):
    status: str


@router.get("/healthz", response_model=Status, summary="The process is up")
async def healthz():
    return JsonResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Status,
    responses={503: {"model": Problem, "content": {"application/problem+json": {}}}},
    summary="The database is reachable",
)
async def readyz(request: Request):
    try:
        async with asyncio.timeout(2):
            await request.app.state.pool.fetchval("SELECT 1")
    except Exception as exc:
        raise DatabaseUnavailable("The database is not reachable.", headers={"Retry-After": "1"}) from exc
    return JsonResponse({"status": "ready"})


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def get_metrics():
    return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
