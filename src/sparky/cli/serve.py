"""`sparky serve`: start the HTTP server (uvicorn) with the settings from the environment."""

from __future__ import annotations

import argparse
import sys

#: seconds uvicorn waits for open connections at shutdown, before the app drains its executions
#: (app.DRAIN_SECONDS): the stop timeouts in deploy/ and ecosystem.config.js exceed both together
GRACEFUL_SHUTDOWN_SECONDS = 30


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
    """Settings, then the data dir lock, then the port; only then the app (which recovers and trades)."""
    # the app and its venues are imported only once the settings are known to be good: a refusal is instant
    from sparky.cli.listener import CannotListen, PreboundServer, bind_listeners
    from sparky.cli.settings_errors import InvalidSettings, load_settings
    from sparky.data_dir_lock import DataDirInUse, DataDirLock

    given = (("host", args.host), ("port", args.port), ("forwarded_allow_ips", args.forwarded_allow_ips))
    overrides = {k: v for k, v in given if v is not None}
    try:
        settings = load_settings(**overrides)
    except InvalidSettings as err:
        print(f"sparky: invalid settings:\n{err}", file=sys.stderr)
        return 2
    try:
        lock = DataDirLock.acquire(settings.sparky_data_dir)
    except DataDirInUse as err:
        print(f"sparky: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"sparky: cannot use the data dir {settings.sparky_data_dir}: {err.strerror or err} "
              "(check SPARKY_DATA_DIR)", file=sys.stderr)
        return 2
    with lock:
        try:
            sockets = bind_listeners(settings.host, settings.port)
        except CannotListen as err:
            print(f"sparky: {err}", file=sys.stderr)
            return 1
        import uvicorn

        from sparky.app import create_app

        server = PreboundServer(uvicorn.Config(
            create_app(settings),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            log_config=None,  # uvicorn's lines go through Sparky's renderer (sparky/logging.py)
            access_log=False,  # ACCESS_LOG is Sparky's own: uvicorn's prints the query string
            proxy_headers=True,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
            loop=args.loop,
            http=args.http,
        ))
        try:
            server.run(sockets=sockets)
        except KeyboardInterrupt:  # a second Ctrl+C during shutdown, as uvicorn.run allows
            pass
        finally:
            for sock in sockets:
                sock.close()
    return 0 if server.started else 3  # 3: uvicorn's status for a start-up that failed
