"""`sparky serve` and friends."""

from __future__ import annotations

import argparse
import sys

from sparky import __version__, migrate


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from sparky.app import create_app
    from sparky.config import Settings

    overrides = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
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
        forwarded_allow_ips=args.forwarded_allow_ips,
        timeout_graceful_shutdown=30,
        loop=args.loop,
        http=args.http,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sparky", description="Self-hosted webhook trading server")
    parser.add_argument("--version", action="version", version=f"sparky {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start the HTTP server")
    serve.add_argument("--host", default=None, help="bind address (default HOST or 0.0.0.0)")
    serve.add_argument("--port", type=int, default=None, help="port (default PORT or 3000)")
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1",
                       help="proxies whose X-Forwarded-For is trusted (nginx on the same host)")
    serve.add_argument("--loop", default="auto", choices=["auto", "asyncio", "uvloop"],
                       help="event loop (auto: uvloop when installed)")
    serve.add_argument("--http", default="auto", choices=["auto", "h11", "httptools"],
                       help="HTTP parser (auto: httptools when installed)")
    serve.set_defaults(handler=_serve)
    migrate_cmd = commands.add_parser("migrate", help="apply migrations/*.sql to PostgreSQL (Supabase or plain)")
    migrate.add_arguments(migrate_cmd)
    migrate_cmd.set_defaults(handler=migrate.run)
    from sparky import users_cli  # store and tenant modules: only imported when a command runs

    users_cli.add_arguments(commands)
    args = parser.parse_args(argv)
    return args.handler(args)
