"""GET /metrics: Prometheus' text format, with the admin token (or on METRICS_PORT, see
observability/metrics_server.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sparky.api.deps import ServicesDep, require_admin
from sparky.errors import NotFound
from sparky.observability.metrics import CONTENT_TYPE
from sparky.observability.scrape import scrape

router = APIRouter(tags=["operator"])


@router.get("/metrics", summary="Prometheus metrics (admin; on 127.0.0.1:METRICS_PORT when it is set)")
async def metrics(request: Request, services: ServicesDep) -> Response:
    if services.settings.metrics_port is not None:
        raise NotFound("Metrics are served on 127.0.0.1:METRICS_PORT")
    await require_admin(request, services)
    return Response(await scrape(services), media_type=CONTENT_TYPE)
