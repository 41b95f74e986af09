"""`sparky serve`: start the HTTP server (uvicorn) with the settings from the environment."""

from __future__ import annotations

import argparse
import sys


def add_arguments(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="start the HTTP server")
    serve.add_argument("--host", default=None, help="bind address (default HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default PORT or 3000)")
    serve.add_argument("--forwarded-allow-ips", default=None,
                       help="proxies whose X-Forwarded-For names the client: IPs, CIDR blocks or '*' "
                            "(default FORWARDED_ALLOW_IPS or 127.0.0.1,::1: nginx on the same host)")
    serve.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
                       help="event loop (auto: uvloop when installed)")
    serve.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                       help="HTTP parser (auto: httptools when installed)")
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from sparky.app import create_app
    from sparky.config import Settings

    given = (("host", args.host), ("port", args.port), ("forwarded_allow_ips", args.forwarded_allow_ips))
    overrides = {k: v for k, v in given if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        print(f"sparky: invalid settings:\n{err}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=30,
        loop=args.loop,
        http=args.http,
    )
    return 0
