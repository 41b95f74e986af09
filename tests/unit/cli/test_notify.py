"""`sparky users channels` (a local user's own channels) and `sparky notify-test` (a test message
to channels): bad input refused naming the URL by position and kind, URLs never printed back."""

from __future__ import annotations

import os

import pytest

from sparky.cli.main import main
from tests.notify_channel import channel
from tests.unit.cli.test_users import UNKNOWN_USER, Cli


@pytest.fixture
def cli(tmp_path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(tmp_path / "data", capsys)


def test_a_users_channels_are_stored_shown_by_kind_and_cleared(cli: Cli) -> None:
    user, _, _ = cli.add()
    out = cli.ok("channels", user, "discord://1234/secret-token", "tgram://1:bot-secret/42")
    assert out == f"User {user}: notification channels #1 (discord), #2 (tgram)\n"
    assert cli.read(lambda s: s.notification_channels(user)) == "discord://1234/secret-token tgram://1:bot-secret/42"
    assert cli.ok("channels", user) == out  # shown, unchanged
    assert cli.ok("channels", user, "--clear") == f"User {user}: notification channels none\n"
    assert cli.read(lambda s: s.notification_channels(user)) is None


@pytest.mark.parametrize(("argv", "says"), [
    (["discord://1/t", "nothttp://leaky-secret"], "not an apprise URL apprise can send to: #2 (nothttp); nothing stored"),
    (["discord://1/t", "--clear"], "give URLs or --clear, not both"),
])
def test_bad_channels_are_refused_and_nothing_is_stored(cli: Cli, argv: list[str], says: str) -> None:
    user, _, _ = cli.add()
    code, out, err = cli("channels", user, *argv)
    assert (code, out) == (2, "") and says in err and "leaky-secret" not in err
    assert cli.read(lambda s: s.notification_channels(user)) is None


def test_channels_of_an_unknown_user_are_refused(cli: Cli) -> None:
    cli.add()
    code, _, err = cli("channels", UNKNOWN_USER, "discord://1/t")
    assert code == 2 and UNKNOWN_USER in err


def test_notify_test_sends_to_each_channel_and_says_which_took_it(capsys, monkeypatch) -> None:
    for name in list(os.environ):
        if name in ("NOTIFY_URLS", "OPERATOR_NOTIFY_URLS"):
            monkeypatch.delenv(name)
    with channel() as box:
        code = main(["notify-test", box.url("ok"), "tgram://1:secret-bot-token/42"])  # Telegram: unreachable
        message = box.next()
    out, err = capsys.readouterr()
    assert code == 1
    assert out == "#1 (json): sent\n#2 (tgram): NOT sent: the channel refused it or is unreachable\n"
    assert (message["path"], message["title"]) == ("/ok", "Sparky test notification")
    assert "secret-bot-token" not in out + err


def test_notify_test_refuses_a_bad_url_and_sends_nothing(capsys) -> None:
    with channel() as box:
        code = main(["notify-test", box.url("ok"), "nothttp://leaky"])
        assert box.nothing_more() and not box.arrived.is_set()
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "not an apprise URL apprise can send to: #2 (nothttp); nothing sent" in err and "leaky" not in err
