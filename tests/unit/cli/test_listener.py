"""The listening sockets `sparky serve` binds before the app starts, and why it cannot."""

from __future__ import annotations

import socket

import pytest

from sparky.cli.listener import CannotListen, bind_listeners


def test_the_port_listens_before_any_app_runs() -> None:
    sockets = bind_listeners("127.0.0.1", 0)
    try:
        port = sockets[0].getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass  # queued in the backlog: a client arriving during start-up waits instead of being refused
    finally:
        for sock in sockets:
            sock.close()


def test_a_taken_port_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(CannotListen, match=f"cannot listen on 127.0.0.1:{port}: the port is already in use"):
            bind_listeners("127.0.0.1", port)


@pytest.mark.parametrize(("host", "says"), [
    ("no-such-host.invalid", "check HOST / --host"),
    ("192.0.2.1", "this machine has no such address: check HOST / --host"),  # TEST-NET-1, never local
])
def test_a_host_this_machine_cannot_listen_on_says_so(host: str, says: str) -> None:
    with pytest.raises(CannotListen, match=says):
        bind_listeners(host, 0)
