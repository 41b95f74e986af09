"""The listening sockets, bound before the app starts, and uvicorn's server running on them.

uvicorn binds its port only after the app's start-up, and Sparky's start-up resumes requests a
crash left pending (which places orders). Binding first makes a port that is already taken fail
at once, before anything was recovered or sent. Connections that arrive while the app is still
starting wait in the listen backlog instead of being refused.
"""

from __future__ import annotations

import errno
import logging
import socket

import uvicorn

#: uvicorn's default listen backlog
BACKLOG = 2048

_REASONS = {
    errno.EADDRINUSE: "the port is already in use (another Sparky or another program): stop it or choose "
                      "another PORT / --port",
    errno.EACCES: "permission denied (ports below 1024 need privileges): choose a PORT above 1023",
    errno.EADDRNOTAVAIL: "this machine has no such address: check HOST / --host",
}


class CannotListen(Exception):
    pass


def bind_listeners(host: str, port: int) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to, as asyncio's create_server would bind."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise CannotListen(f"cannot listen on {host}:{port}: {err.strerror}: check HOST / --host") from None
    sockets: list[socket.socket] = []
    unavailable = None
    try:
        for family, kind, proto, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart over TIME_WAIT, as uvicorn does
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as err:
                if err.errno != errno.EADDRNOTAVAIL:  # an address family this machine lacks is skipped
                    raise
                unavailable = err
                sockets.pop().close()
                continue
            sock.listen(BACKLOG)  # listening now: nobody else can take the port while the app starts
        if not sockets:
            raise unavailable or OSError(errno.EADDRNOTAVAIL, "no address")
    except OSError as err:
        for sock in sockets:
            sock.close()
        reason = _REASONS.get(err.errno, err.strerror or str(err)) if err.errno is not None else str(err)
        raise CannotListen(f"cannot listen on {host}:{port}: {reason}") from None
    return sockets


class PreboundServer(uvicorn.Server):
    """uvicorn's server on sockets bound before the app's start-up ran."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and sockets:
            # uvicorn announces pre-bound sockets only when it bound them itself; operators and
            # supervisors watch for this line
            host, port = sockets[0].getsockname()[:2]
            shown = f"[{host}]" if ":" in host else host
            logging.getLogger("uvicorn.error").info("Uvicorn running on http://%s:%d (Press CTRL+C to quit)",
                                                    shown, port)
