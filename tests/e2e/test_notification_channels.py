"""Outbound notifications through apprise, through the real app: the operator hears of an
unprotected position, the local user (NOTIFY_URLS) of their trades, a channel that hangs never
delays a webhook's answer, and a channel's secret never reaches the logs.

apprise sends through `requests` (respx never sees it): the channel is a local HTTP server behind a
`json://127.0.0.1:<port>/…` URL (tests/notify_channel.py) that records what apprise POSTed."""

from __future__ import annotations

import asyncio

from sparky.exchanges.errors import InvalidOrder
from sparky.signals.auth import LOCAL_USER_ID
from tests.doubles import CloseReplyUnreadable, install
from tests.notify_channel import WAIT_SEC, channel


async def received(box) -> dict:
    return await asyncio.to_thread(box.next)


async def test_an_unprotected_position_reaches_the_operator_and_the_users_channels(start) -> None:
    with channel() as box:
        async with start(paper_attached_brackets=False, operator_notify_urls=box.url("operator"),
                         notify_urls=box.url("user")) as sparky:
            install(sparky, CloseReplyUnreadable)
            sparky.paper.fail("stop_loss", error=InvalidOrder("paper: would trigger immediately"))
            response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                          stop_loss_percent=2)
            assert response.json()["error"].startswith("UNPROTECTED POSITION"), response.text
            messages = {m["path"]: m for m in [await received(box), await received(box)]}
            await sparky.services.outbound.idle()
    operator, user = messages["/operator"], messages["/user"]
    assert operator["title"] == "Sparky: UNPROTECTED POSITION on BTCUSDT"
    assert operator["message"].startswith(f"User {LOCAL_USER_ID}: UNPROTECTED POSITION: stop-loss could not be placed")
    assert user["title"] == "UNPROTECTED POSITION on BTCUSDT"
    assert box.nothing_more()  # no trade-opened notice: the entry's position was not protected


async def test_the_local_user_hears_of_a_trade_and_a_hanging_channel_does_not_delay_the_answer(start) -> None:
    with channel() as box:
        box.hold()  # the channel takes the request and does not answer
        async with start(notify_urls=box.url("user")) as sparky:
            response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                          stop_loss_percent=2)
            assert response.status_code == 200 and response.json()["action"] == "opened"
            assert await asyncio.to_thread(box.arrived.wait, WAIT_SEC)
            assert box.nothing_more()  # answered while the channel still hangs
            box.release()
            message = await received(box)
            await sparky.services.outbound.idle()
            metrics = (await sparky.admin_get("/metrics")).text
    assert (message["title"], message["message"]) == ("Opened BUY BTCUSDT", "0.1 BTCUSDT at 27000")
    assert 'sparky_notifications_sent_total{audience="user",result="sent"} 1.0' in metrics


async def test_a_channel_that_fails_is_logged_by_its_kind_never_by_its_url(start, capsys) -> None:
    token = "123456789:AAHsecretBotTokenNeverLogged"
    async with start(notify_urls=f"tgram://{token}/987654321", log_level="DEBUG", log_format="json") as sparky:
        response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                      stop_loss_percent=2)
        assert response.status_code == 200
        await sparky.services.outbound.idle()  # api.telegram.org is unreachable from the tests
        metrics = (await sparky.admin_get("/metrics")).text
    err = capsys.readouterr().err
    assert '"event": "notification.not_sent"' in err and '"channels": ["tgram"]' in err
    assert token not in err and "AAHsecret" not in err and "987654321" not in err
    assert 'sparky_notifications_sent_total{audience="user",result="failed"} 1.0' in metrics


async def test_a_users_stored_channels_hear_of_their_trades_as_their_preferences_say(start) -> None:
    from tests.e2e.test_multi_tenant import ALICE, BOB, add_user, post

    with channel() as box:
        async with start() as sparky:
            for user in (ALICE, BOB):
                await add_user(sparky, user)
            await sparky.services.secrets.refresh()
            store = sparky.services.store
            await store.set_notification_channels(ALICE, box.url("alice"))
            await store.set_notification_preferences(ALICE, {"notify_position_closed_profit": False})
            opened = await post(sparky, ALICE, action="buy", position_size_usd=2700, stop_loss_percent=2)
            closed = await post(sparky, ALICE, action="close", price=27270)
            bobs = await post(sparky, BOB, action="buy", position_size_usd=2700, stop_loss_percent=2)
            assert (opened["action"], closed["action"], bobs["action"]) == ("opened", "closed", "opened")
            await sparky.services.notifier.drain()
            await sparky.services.outbound.idle()
            notices = await store.list_notifications(ALICE)
    message = box.next()
    assert (message["path"], message["title"]) == ("/alice", "Opened BUY BTCUSDT")
    assert box.nothing_more()  # the profitable close: off in her preferences; Bob has no channel
    assert [n.title for n in notices] == ["Opened BUY BTCUSDT"]  # the dashboard row beside it


async def test_a_users_own_channel_may_only_name_a_hosted_service_when_users_write_their_rows(start) -> None:
    """On Supabase users write their own preferences row: a `json://` URL to an address they chose
    is never sent to (the server's network is not theirs to reach), and it is logged by position."""
    from structlog.testing import capture_logs

    from sparky.notifications import Notifier
    from sparky.observability.metrics import Metrics
    from sparky.observability.outbound import OutboundNotifications
    from tests.e2e.test_multi_tenant import ALICE, add_user

    with channel() as box:
        async with start() as sparky:
            await add_user(sparky, ALICE)
            store = sparky.services.store
            await store.set_notification_channels(ALICE, f"{box.url('internal')} discord://1/t")
            metrics = Metrics()
            outbound = OutboundNotifications(metrics)
            notifier = Notifier(store, outbound=outbound, any_channel=False)  # as on Supabase
            with capture_logs() as logs:
                notifier.notify(ALICE, "trade_opened", "Opened BUY BTCUSDT", "0.1 BTCUSDT at 27000")
                await notifier.drain()
                await outbound.idle()  # discord.com is unreachable from the tests: that one send fails
            await outbound.aclose()
    [refused] = [e for e in logs if e["event"] == "notification.channel_refused"]
    assert refused["channels"] == ["#1 (json)"] and "127.0.0.1" not in repr(logs)
    [attempt] = [e for e in logs if e["event"] == "notification.not_sent"]
    assert attempt["channels"] == ["discord"]  # the hosted service only
    assert box.nothing_more() and not box.arrived.is_set()


async def test_a_background_loop_failing_in_a_row_alerts_the_operator_once(start) -> None:
    with channel() as box:
        async with start(operator_notify_urls=box.url("operator"), operator_alert_loop_failures=2) as sparky:
            failures = asyncio.Event()
            runs = 0

            async def store_down() -> None:
                nonlocal runs
                runs += 1
                if runs == 4:
                    failures.set()
                raise ConnectionError("store down")

            sparky.services.background.every("test.failing", 0.01, store_down, first_after=0)
            await asyncio.wait_for(failures.wait(), WAIT_SEC)
            message = await received(box)
            await sparky.services.outbound.idle()
    assert message["title"] == "Sparky: background loop test.failing is failing"
    assert message["message"] == "test.failing failed 2 times in a row; last error: ConnectionError: store down"
    assert box.nothing_more()  # the third and fourth failures: not told again
