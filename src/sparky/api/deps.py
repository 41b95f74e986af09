"""FastAPI dependencies: the lifespan-built services and the admin-token check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from sparky.errors import Unauthorized
from sparky.services import Services


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def is_admin(request: Request, services: Services) -> bool:
    token = bearer_token(request)
    return token is not None and hmac.compare_digest(token.encode(), services.admin_token.encode())


async def require_admin(request: Request, services: ServicesDep) -> None:
    if not is_admin(request, services):
        raise Unauthorized("Unauthorized: admin token required",
                           hint="Send 'Authorization: Bearer <ADMIN_TOKEN>'")


AdminDep = Annotated[None, Depends(require_admin)]
