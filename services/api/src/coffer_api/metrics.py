"""Prometheus metrics: request counts and latency by route and status, and database pool usage.

With several uvicorn workers, ``coffer serve`` points PROMETHEUS_MULTIPROC_DIR at a private temp
directory so ``/metrics`` adds up every worker.
"""

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

REQUESTS = Counter("coffer_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "coffer_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
POOL_SIZE = Gauge("coffer_db_pool_connections", "Open database connections", multiprocess_mode="livesum")
POOL_IN_USE = Gauge("coffer_db_pool_in_use", "Database connections in use", multiprocess_mode="livesum")


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def observe_pool(size: int, idle: int) -> None:
    POOL_SIZE.set(size)
    POOL_IN_USE.set(size - idle)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)
