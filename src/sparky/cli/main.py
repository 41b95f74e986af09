"""`sparky …`: parse the command line and hand it to the command family's module.

Each family adds its own sub-commands (`add_arguments`) and sets the handler that runs them;
store and tenant modules are imported only when their command is parsed.
"""

from __future__ import annotations

import argparse

from sparky import __version__
from sparky.cli import ai_worker, alert_template, backup, check, migrate, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sparky", description="Self-hosted webhook trading server")
    parser.add_argument("--version", action="version", version=f"sparky {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve.add_arguments(commands)
    ai_worker.add_arguments(commands)
    migrate_cmd = commands.add_parser("migrate", help="apply migrations/*.sql to PostgreSQL (Supabase or plain)")
    migrate.add_arguments(migrate_cmd)
    migrate_cmd.set_defaults(handler=migrate.run)
    check.add_arguments(commands)
    alert_template.add_arguments(commands)
    backup.add_arguments(commands)
    from sparky.cli import ai, notify, users  # store and tenant modules: only imported when a command runs

    users.add_arguments(commands)
    ai.add_arguments(commands)
    notify.add_arguments(commands)
    args = parser.parse_args(argv)
    return args.handler(args)
