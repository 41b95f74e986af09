"""CPU per request of the venue HTTP client candidates, 20 requests in flight, on uvloop.

A keep-alive HTTP/1.1 server in its own process (TCP_NODELAY, answers a small JSON order reply at
once) stands in for the venue; this process runs each client for a fixed number of signed-order-like
POSTs (form body, API-key header) and reports its own CPU time per request (`time.process_time`,
so the server's CPU is not counted) and requests/s. The candidates are measured in the same run, in
rotating order, `--rounds` times; the table gives the median and the spread.

Candidates: httpx with its own pool (httpcore), the pool Sparky builds (`HttpClientPool` from
`--src`, so the same command measures the code before and after a change), httpx over the
`httpx-aiohttp` package's transport (when importable), and aiohttp on its own as the floor.

Usage: python bench/http_clients.py [--requests 4000] [--concurrency 20] [--rounds 5] [--src src]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

REPLY = (b'{"orderId":283194212,"symbol":"BTCUSDT","status":"NEW","clientOrderId":"sparky-0f3c9a1e2b",'
         b'"price":"0","avgPrice":"0.00000","origQty":"0.010","executedQty":"0","cumQuote":"0",'
         b'"timeInForce":"GTC","type":"MARKET","reduceOnly":false,"closePosition":false,"side":"BUY",'
         b'"positionSide":"BOTH","stopPrice":"0","workingType":"CONTRACT_PRICE","priceProtect":false,'
         b'"origType":"MARKET","updateTime":1764590000000}')
FORM = (b"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=sparky-0f3c9a1e2b"
        b"&newOrderRespType=RESULT&recvWindow=5000&timestamp=1764590000000"
        b"&signature=3c5f1d0b6a8e4f2c9d7b1a0e5f3c2d1b0a9e8f7d6c5b4a39281706f5e4d3c2b1")
HEADERS = {"X-MBX-APIKEY": "k" * 64, "Content-Type": "application/x-www-form-urlencoded"}


# ---------------------------------------------------------------- the venue stand-in (own process)

class _Venue(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15:head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(REPLY)).encode() + b"\r\n\r\n" + REPLY)


def serve() -> None:
    import uvloop

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Venue, "127.0.0.1", 0, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    uvloop.run(main())


# ---------------------------------------------------------------- the candidates

Send = Callable[[], Awaitable[None]]
Close = Callable[[], Awaitable[None]]


def httpx_default(base: str) -> tuple[Send, Close]:
    import httpx

    client = httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))

    async def send() -> None:
        (await client.post("/fapi/v1/order", content=FORM, headers=HEADERS)).json()
    return send, client.aclose


def httpx_limits_20(base: str) -> tuple[Send, Close]:
    import httpx

    client = httpx.AsyncClient(base_url=base, limits=httpx.Limits(max_connections=20, max_keepalive_connections=20))

    async def send() -> None:
        (await client.post("/fapi/v1/order", content=FORM, headers=HEADERS)).json()
    return send, client.aclose


def sparky_pool(base: str) -> tuple[Send, Close]:
    from sparky.exchanges.http import HttpClientPool

    pool = HttpClientPool()
    client = pool.get(base)

    async def send() -> None:
        (await client.post("/fapi/v1/order", content=FORM, headers=HEADERS)).json()
    return send, pool.aclose


def httpx_aiohttp_package(base: str) -> tuple[Send, Close]:
    import httpx
    from httpx_aiohttp import AiohttpTransport

    client = httpx.AsyncClient(base_url=base, transport=AiohttpTransport())

    async def send() -> None:
        (await client.post("/fapi/v1/order", content=FORM, headers=HEADERS)).json()
    return send, client.aclose


def aiohttp_raw(base: str) -> tuple[Send, Close]:
    import aiohttp

    session = aiohttp.ClientSession(base_url=base, connector=aiohttp.TCPConnector(limit=50),
                                    cookie_jar=aiohttp.DummyCookieJar())

    async def send() -> None:
        async with session.post("/fapi/v1/order", data=FORM, headers=HEADERS) as reply:
            await reply.json()
    return send, session.close


CANDIDATES: dict[str, Callable[[str], tuple[Send, Close]]] = {
    "httpx (httpcore pool 50/20)": httpx_default,
    "httpx (httpcore pool 20/20)": httpx_limits_20,
    "sparky HttpClientPool": sparky_pool,
    "httpx + httpx-aiohttp": httpx_aiohttp_package,
    "aiohttp alone": aiohttp_raw,
}


async def measure(factory: Callable[[str], tuple[Send, Close]], base: str, requests: int,
                  concurrency: int) -> tuple[float, float]:
    send, close = factory(base)
    try:
        async def worker(count: int) -> None:
            for _ in range(count):
                await send()

        await asyncio.gather(*(worker(10) for _ in range(concurrency)))  # connections open, code warm
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        await close()
    done = requests // concurrency * concurrency
    return cpu / done, done / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--src", default=os.path.join(os.path.dirname(__file__), "..", "src"),
                        help="Sparky sources whose HttpClientPool is measured")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    sys.path.insert(0, os.path.abspath(args.src))
    candidates = dict(CANDIDATES)
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        del candidates["httpx + httpx-aiohttp"]

    import uvloop

    venue = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert venue.stdout is not None
        base = f"http://127.0.0.1:{venue.stdout.readline().strip()}"
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in candidates}
        names = list(candidates)
        for round_no in range(args.rounds):
            order = names[round_no % len(names):] + names[:round_no % len(names)]
            for name in order:
                cpu, rate = uvloop.run(measure(candidates[name], base, args.requests, args.concurrency))
                results[name].append((cpu, rate))
                print(f"round {round_no + 1}: {name}: {cpu * 1e6:.0f} µs CPU/request, {rate:.0f} requests/s", flush=True)
    finally:
        venue.terminate()
        venue.wait()

    import aiohttp
    import httpx
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"httpx {httpx.__version__}, aiohttp {aiohttp.__version__}; {args.requests} POSTs x {args.rounds} rounds, "
          f"{args.concurrency} in flight, uvloop; --src {args.src}")
    print(f"{'client':32} {'CPU µs/request (median, min-max)':>34} {'requests/s (median)':>20}")
    for name, runs in results.items():
        cpu = [c * 1e6 for c, _ in runs]
        rate = [r for _, r in runs]
        print(f"{name:32} {statistics.median(cpu):>14.0f} ({min(cpu):.0f}-{max(cpu):.0f}){'':>10} "
              f"{statistics.median(rate):>14.0f}")


if __name__ == "__main__":
    main()
