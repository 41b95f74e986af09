"""`sparky notify-test URL…` (send a test message to notification channels) and `sparky users
channels USER_ID [URL…]` (a local user's own channels, docs/NOTIFICATIONS.md).

URLs are never printed back: a channel is named by its position and kind (`#1 (discord)`), since
the URL holds the channel's token or password. Exit status of notify-test: 0 every channel took the
message, 1 one did not, 2 a URL apprise cannot send to (nothing sent).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sparky.cli.users_commands import require_user
from sparky.cli.users_input import InputError
from sparky.observability.channels import invalid_channel_urls, scheme_of, send_blocking, split_urls
from sparky.store.sqlite.store import SqliteStore

TEST_TITLE = "Sparky test notification"
TEST_BODY = "If you read this, Sparky can reach this channel."


def add_arguments(commands: Any) -> None:
    test = commands.add_parser("notify-test", help="send a test message to notification channels (apprise URLs)",
                               description="Send a test message to each channel and say which took it. "
                               "Give the URLs as arguments, or none to test NOTIFY_URLS and OPERATOR_NOTIFY_URLS.")
    test.add_argument("urls", nargs="*", metavar="URL", help="apprise URLs, e.g. discord://<id>/<token>")
    test.set_defaults(handler=run_test)


def _configured_urls() -> tuple[str, ...]:
    from sparky.cli.settings_errors import load_settings

    settings = load_settings()
    return tuple(url for secret in (settings.notify_urls, settings.operator_notify_urls) if secret is not None
                 for url in split_urls(secret.get_secret_value()))


def run_test(args: argparse.Namespace) -> int:
    from sparky.cli.settings_errors import InvalidSettings

    try:
        urls = tuple(url for given in args.urls for url in split_urls(given)) or _configured_urls()
    except InvalidSettings as err:
        print(f"sparky notify-test: invalid settings:\n{err}", file=sys.stderr)
        return 2
    if not urls:
        print("sparky notify-test: no URL given and neither NOTIFY_URLS nor OPERATOR_NOTIFY_URLS is set",
              file=sys.stderr)
        return 2
    bad = invalid_channel_urls(" ".join(urls))
    if bad:
        print(f"sparky notify-test: not an apprise URL apprise can send to: {', '.join(bad)}; nothing sent",
              file=sys.stderr)
        return 2
    failed = 0
    for number, url in enumerate(urls, 1):
        sent = send_blocking((url,), TEST_TITLE, TEST_BODY)
        failed += not sent
        print(f"#{number} ({scheme_of(url)}): {'sent' if sent else 'NOT sent: the channel refused it or is unreachable'}")
    return 1 if failed else 0


async def set_channels(store: SqliteStore, args: argparse.Namespace) -> None:
    """`sparky users channels USER_ID [URL…] [--clear]`: show, replace or clear a user's channels."""
    await require_user(store, args.user_id)
    urls = tuple(url for given in args.urls for url in split_urls(given))
    if args.clear and urls:
        raise InputError("give URLs or --clear, not both")
    if urls:
        bad = invalid_channel_urls(" ".join(urls))
        if bad:
            raise InputError(f"not an apprise URL apprise can send to: {', '.join(bad)}; nothing stored")
        await store.set_notification_channels(args.user_id, " ".join(urls))
    elif args.clear:
        await store.set_notification_channels(args.user_id, None)
    stored = split_urls(await store.notification_channels(args.user_id))
    kinds = ", ".join(f"#{n} ({scheme_of(url)})" for n, url in enumerate(stored, 1)) or "none"
    print(f"User {args.user_id}: notification channels {kinds}")
