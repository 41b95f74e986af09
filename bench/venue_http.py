"""Sparky against a venue over HTTP: a real `sparky serve` trading on the local Aster simulator.

Starts bench/aster_sim.py and `sparky serve` (fresh data dir, SQLite, a legacy config.json whose
`aster` section points `apiUrl` at the simulator), then measures, per source tree:

1. sequential — N opens (buy with SL+TP) on N symbols, then their N closes, one at a time, at venue
   latency 0 ms and 25 ms: p50/p99 per action and the venue requests each made (simulator counts);
2. throughput — wrk, one connection per symbol (bench/venue_webhook.lua), venue answering at once:
   webhooks/s, p50/p99, server CPU ms per webhook (/proc utime+stime over the run, children
   included ÷ webhooks recorded), the simulator's CPU apart, server RSS after the load;
3. correctness — every webhook row terminal (none pending, none lost), every stored position equal
   to the simulator's; every reply checked (200 + opened/closed, SL and TP placed): failures are
   counted and shown, never measured as successes;
4. users — RSS of a server whose 1,000 local users each hold their own Aster keys and each sent one
   webhook (bench/venue_users.py);
plus the minimal app (bench/minimal_app.py) under the same wrk load, for the ratio Sparky/minimal.

Usage: python bench/venue_http.py [--seconds 10] [--count 100] [--users 1000] [--json PATH]
       [--src DIR | --compare DIR] [--rounds 1]
`--src DIR` runs the server from another tree (PYTHONPATH=DIR/src, same virtualenv); `--compare DIR`
measures this tree and DIR alternately in one run. An older commit:
`git archive <commit> src | tar -x -C /tmp/old` then `--compare /tmp/old`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import minimal_app  # noqa: E402
import venue_users  # noqa: E402
from common import BENCH, cpu_seconds, free_port, rss_mib, run_wrk, wait_http  # noqa: E402

SECRET = "bench-venue-secret-7f3a9c1e"
ADMIN = "bench-venue-admin-5d2b8e4f"
HERE_SRC = BENCH.parent / "src"


class Simulator:
    """bench/aster_sim.py in a subprocess, and its control endpoints."""

    def __init__(self, symbols: int) -> None:
        port_file = Path(tempfile.mkdtemp(prefix="aster-sim-")) / "port"
        self.process = subprocess.Popen([sys.executable, str(BENCH / "aster_sim.py"), "--symbols", str(symbols),
                                         "--port-file", str(port_file)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the Aster simulator did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{port_file.read_text()}"
        self.control = httpx.Client(base_url=self.url, timeout=10)

    def stats(self) -> dict:
        return self.control.get("/_bench/stats").json()

    def reset(self) -> None:
        self.control.post("/_bench/reset")

    def latency(self, ms: float) -> None:
        self.control.post("/_bench/latency", params={"ms": ms})

    def positions(self, api_key: str) -> dict[str, float]:
        return {s: float(q) for s, q in self.control.get("/_bench/positions").json().get(api_key, {}).items()}

    def stop(self) -> None:
        self.control.close()
        self.process.terminate()
        self.process.wait(timeout=10)


def python_path(tree: Path) -> Path:
    """The directory holding the `sparky` package: DIR/src, or DIR itself."""
    for candidate in (tree / "src", tree):
        if (candidate / "sparky" / "__init__.py").exists():
            return candidate.resolve()
    raise SystemExit(f"no sparky package under {tree} (export one with: git archive <commit> src | tar -x -C DIR)")


def server_env(src: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "REDIS", "SPARKY_"))}
    return {**env, "PYTHONPATH": str(src), "SPARKY_DATA_DIR": str(data_dir), "WEBHOOK_SECRET": SECRET,
            "ADMIN_TOKEN": ADMIN, "RATE_LIMIT": "", "AUTH_FAILURE_LIMIT": "", "LOG_LEVEL": "WARNING",
            "SQLITE_SYNCHRONOUS": "FULL",
            "DUPLICATE_WINDOW_SEC": "0",
            # answer every webhook inline (as the original server does), never 202 + "execution continues"
            "SYNC_BUDGET_MS": "60000", **extra}


class Server:
    """`sparky serve` from a given source tree, run in its data dir (so no stray .env is read)."""

    def __init__(self, src: Path, sim: Simulator, api_key: str, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="sparky-venue-"))
        config = self.data_dir / "config.json"
        config.write_text(json.dumps({"webhookSecret": SECRET, "aster": {
            "apiKey": api_key, "apiSecret": f"{api_key}-secret", "apiUrl": sim.url}}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sparky", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.data_dir, env=server_env(src, self.data_dir, CONFIG_PATH=str(config)),
            stdout=subprocess.DEVNULL, stderr=open(self.data_dir / "server.log", "w"))  # noqa: SIM115
        wait_http(f"{self.url}/health", self.process)
        self.db = self.data_dir / "sparky.sqlite3"

    def rows(self) -> dict[str, int]:
        with sqlite3.connect(self.db) as conn:
            return dict(conn.execute("SELECT status, COUNT(*) FROM webhook_requests GROUP BY status").fetchall())

    def wait_idle(self, timeout: float = 60) -> dict[str, int]:
        """Until no webhook row is pending (requests wrk left in flight finish)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.rows()
            if not rows.get("pending") or time.monotonic() > deadline:
                return rows
            time.sleep(0.1)

    def stored_positions(self) -> dict[str, float]:
        with sqlite3.connect(self.db) as conn:
            found = conn.execute("SELECT symbol, side, quantity FROM positions WHERE exchange = 'aster'").fetchall()
        return {s: float(q) * (1 if side.upper() in ("BUY", "LONG") else -1) for s, side, q in found}

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def open_body(symbol: str, n: int, secret: str = SECRET) -> dict:
    return {"secret": secret, "exchange": "aster", "action": "buy", "symbol": symbol, "price": 100,
            "position_size_usd": 100, "stop_loss_percent": 2, "take_profit_percent": 4, "alert_id": f"o{n}"}


def close_body(symbol: str, n: int) -> dict:
    return {"secret": SECRET, "exchange": "aster", "action": "close", "symbol": symbol, "price": 100,
            "alert_id": f"c{n}"}


def failure(response: httpx.Response, action: str) -> str | None:
    """Why a reply is not a success of `action` (None when it is): 200, the action, SL and TP."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text[:200]}"
    if response.status_code != 200 or body.get("action") != action:
        return f"{response.status_code} {json.dumps(body)[:300]}"
    if action == "opened":
        position = body.get("position") or {}
        if not position.get("stopLossOrderId") or not position.get("takeProfitOrderId"):
            return f"opened without SL and TP: {json.dumps(body)[:300]}"
    return None


def timed(client: httpx.Client, body: dict, action: str, failures: list[str]) -> float:
    started = time.perf_counter()
    response = client.post("/webhook", json=body)
    elapsed = time.perf_counter() - started
    why = failure(response, action)
    if why:
        failures.append(why)
    return elapsed


def ms(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))] * 1000, 1)


def sequential(server: Server, sim: Simulator, count: int, latency_ms: float, tag: str) -> dict:
    """`count` opens on S100… then their closes, one request at a time; venue requests per action."""
    sim.latency(latency_ms)
    failures: list[str] = []
    symbols = [f"S{100 + i}USDT" for i in range(count)]
    result: dict = {"venue_latency_ms": latency_ms}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for action, make in (("opened", lambda s, i: open_body(s, i)), ("closed", close_body)):
            sim.reset()
            samples = [timed(client, make(s, f"{tag}{latency_ms}-{i}"), action, failures)
                       for i, s in enumerate(symbols)]
            requests = sim.stats()["requests"]
            result[action[:-2] if action == "opened" else "close"] = {
                "p50_ms": ms(samples, 50), "p99_ms": ms(samples, 99),
                "venue_requests": round(sum(v for k, v in requests.items() if not k.startswith("error")) / count, 2),
                "by_endpoint": {k: round(v / count, 2) for k, v in sorted(requests.items())}}
    sim.latency(0)
    result["failed"] = len(failures)
    result["first_failure"] = failures[0] if failures else None
    return result


def throughput(server: Server, sim: Simulator, seconds: float, connections: int,
               profile: Path | None = None) -> dict:
    rows_before = sum(server.rows().values())
    server_cpu, sim_cpu = cpu_seconds(server.process.pid), cpu_seconds(sim.process.pid)
    sim.reset()
    spy = None
    if profile is not None:  # py-spy samples the server while wrk runs (it costs the server nothing)
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(server.process.pid), "--duration",
                                str(max(1, round(seconds))), "--format", "raw", "--output", str(profile)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    load = run_wrk(f"{server.url}/webhook", connections=connections, seconds=seconds,
                   env={"SPARKY_BENCH_SECRET": SECRET, "SPARKY_BENCH_EXCHANGE": "aster"})
    if spy is not None:
        spy.wait()
    rows = server.wait_idle()
    server_cpu = cpu_seconds(server.process.pid) - server_cpu
    sim_cpu = cpu_seconds(sim.process.pid) - sim_cpu
    recorded = sum(rows.values()) - rows_before
    return {
        "webhooks_per_sec": load["per_sec"], "p50_ms": load["p50_ms"], "p99_ms": load["p99_ms"],
        "completed": load["completed"], "failed": load["failed"],
        "first_failure": load["first_failure"] if load["failed"] else None,
        "socket_errors": load["socket_errors"], "recorded": recorded,
        "server_cpu_ms_per_webhook": round(server_cpu / max(recorded, 1) * 1000, 2),
        "sim_cpu_ms_per_webhook": round(sim_cpu / max(recorded, 1) * 1000, 2),
        "venue_requests_per_webhook": round(sim.stats()["total"] / max(recorded, 1), 2),
        "rss_mib_after": rss_mib(server.process.pid),
    }


def audit(server: Server, sim: Simulator, api_key: str, completed: int, recorded_total: int) -> dict:
    rows = server.wait_idle()
    stored, held = server.stored_positions(), sim.positions(api_key)
    mismatched = sorted(s for s in set(stored) | set(held) if abs(stored.get(s, 0) - held.get(s, 0)) > 1e-9)
    return {"rows_by_status": rows, "pending": rows.get("pending", 0),
            "lost": max(0, completed - recorded_total), "positions_stored": len(stored),
            "positions_mismatched": mismatched}


def measure_tree(label: str, src: Path, sim: Simulator, args: argparse.Namespace, n: int) -> dict:
    api_key = f"bench{n}"
    server = Server(src, sim, api_key)
    try:
        warm = []  # first requests load exchangeInfo and sync the clock: not part of the figures
        with httpx.Client(base_url=server.url, timeout=60) as client:
            timed(client, open_body("S299USDT", 0), "opened", warm)
            timed(client, close_body("S299USDT", 0), "closed", warm)
        seq = [sequential(server, sim, args.count, latency, f"{n}-") for latency in (0, args.latency_ms)]
        sent_seq = 2 + 2 * 2 * args.count
        profile = args.profile.with_suffix(f".{n}.txt") if args.profile else None
        load = throughput(server, sim, args.seconds, args.connections, profile)
        result = {"tree": label, "warmup_failed": len(warm), "sequential": seq, "throughput": load,
                  "check": audit(server, sim, api_key, sent_seq + load["completed"], sum(server.rows().values()))}
    finally:
        server.stop()
    if args.users:
        try:
            result["users"] = venue_users.measure(src, sim, args.users, server_env, Server, f"r{n}")
        except subprocess.CalledProcessError as err:  # an older tree's store API may differ
            result["users"] = {"error": f"could not create the users: {err.stderr[-300:]}"}
    return result


def failures_of(run: dict) -> int:
    return (run["warmup_failed"] + sum(s["failed"] for s in run["sequential"]) + run["throughput"]["failed"]
            + run["check"]["pending"] + run["check"]["lost"] + len(run["check"]["positions_mismatched"])
            + run.get("users", {}).get("failed", 0))


ROWS = [
    ("webhooks/s (wrk)", lambda r: r["throughput"]["webhooks_per_sec"]),
    ("p50 ms (wrk)", lambda r: r["throughput"]["p50_ms"]),
    ("p99 ms (wrk)", lambda r: r["throughput"]["p99_ms"]),
    ("server CPU ms/webhook", lambda r: r["throughput"]["server_cpu_ms_per_webhook"]),
    ("  ÷ minimal app CPU ms/req", lambda r: r.get("cpu_vs_minimal")),
    ("simulator CPU ms/webhook", lambda r: r["throughput"]["sim_cpu_ms_per_webhook"]),
    ("venue requests/webhook (wrk)", lambda r: r["throughput"]["venue_requests_per_webhook"]),
    ("RSS MiB after load", lambda r: r["throughput"]["rss_mib_after"]),
    ("open p50/p99 ms @0", lambda r: "{p50_ms}/{p99_ms}".format(**r["sequential"][0]["open"])),
    ("close p50/p99 ms @0", lambda r: "{p50_ms}/{p99_ms}".format(**r["sequential"][0]["close"])),
    ("open p50/p99 ms @latency", lambda r: "{p50_ms}/{p99_ms}".format(**r["sequential"][1]["open"])),
    ("close p50/p99 ms @latency", lambda r: "{p50_ms}/{p99_ms}".format(**r["sequential"][1]["close"])),
    ("venue requests/open", lambda r: r["sequential"][0]["open"]["venue_requests"]),
    ("venue requests/close", lambda r: r["sequential"][0]["close"]["venue_requests"]),
    ("RSS MiB, users idle", lambda r: r.get("users", {}).get("rss_mib_idle")),
    ("RSS MiB, users after 1 webhook each", lambda r: r.get("users", {}).get("rss_mib_after")),
    ("FAILURES (must be 0)", failures_of),
]


def table(runs: list[dict], minimal: list[dict]) -> str:
    names = [f"{r['tree']}#{i + 1}" for i, r in enumerate(runs)]
    lines = [f"{'':38}" + "".join(f"{n[-22:]:>24}" for n in names)]
    for label, get in ROWS:
        lines.append(f"{label:38}" + "".join(f"{str(get(r)):>24}" for r in runs))
    for i, m in enumerate(minimal):
        lines.append(f"minimal app #{i + 1}: {m['requests_per_sec']} req/s, CPU {m['server_cpu_ms_per_request']} "
                     f"ms/req, p50 {m['p50_ms']} ms, p99 {m['p99_ms']} ms, failed {m['failed']}")
    return "\n".join(lines)


def ratios(runs: list[dict]) -> dict:
    """Each other tree ÷ this tree, per round, for the headline figures."""
    base = [r for r in runs if r["tree"] == "this tree"]
    other = [r for r in runs if r["tree"] != "this tree"]
    keys = {"webhooks_per_sec": lambda r: r["throughput"]["webhooks_per_sec"],
            "server_cpu_ms_per_webhook": lambda r: r["throughput"]["server_cpu_ms_per_webhook"],
            "p99_ms": lambda r: r["throughput"]["p99_ms"],
            "rss_mib_after": lambda r: r["throughput"]["rss_mib_after"]}
    return {name: [round(get(o) / get(b), 2) if get(b) else None for b, o in zip(base, other, strict=False)]
            for name, get in keys.items()}


def machine() -> str:
    model = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                  if ln.startswith("model name")), platform.machine())
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return f"{os.cpu_count()} cpus ({model}), {mem} MiB RAM, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of the wrk phase")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections, one symbol each (≤ 100)")
    parser.add_argument("--count", type=int, default=100, help="sequential opens (then closes) per latency (≤ 199)")
    parser.add_argument("--latency-ms", type=float, default=25, help="the second sequential venue latency")
    parser.add_argument("--users", type=int, default=1000, help="local users for the RSS measure (0 skips it)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--src", type=Path, help="run the server from this tree instead of this one")
    parser.add_argument("--compare", type=Path, help="also measure this tree, alternating with this one")
    parser.add_argument("--no-minimal", action="store_true", help="skip the minimal app")
    parser.add_argument("--json", type=Path, help="write the full results here")
    parser.add_argument("--profile", type=Path, metavar="PATH",
                        help="py-spy (on PATH) samples the server during the wrk phase: PATH.<run>.txt, collapsed "
                             "stacks (flamegraph.pl or speedscope read them)")
    args = parser.parse_args()
    if not 1 <= args.count <= 199 or not 1 <= args.connections <= 100:
        # wrk trades S0…S99, the sequential phases S100…S298, the warm-up S299
        parser.error("--count must be 1..199 and --connections 1..100")
    trees = [("this tree" if args.src is None else str(args.src), python_path(args.src or BENCH.parent))]
    if args.compare:
        trees.append((str(args.compare), python_path(args.compare)))
    sim = Simulator(symbols=300)
    runs: list[dict] = []
    minimal: list[dict] = []
    try:
        for round_ in range(args.rounds):
            if not args.no_minimal:
                minimal.append(minimal_app.measure(args.seconds, args.connections))
            for label, src in (trees if round_ % 2 == 0 else trees[::-1]):  # neither tree always goes first
                print(f"round {round_ + 1}: {label} …", file=sys.stderr, flush=True)
                run = measure_tree(label, src, sim, args, len(runs))
                if minimal:
                    run["cpu_vs_minimal"] = round(run["throughput"]["server_cpu_ms_per_webhook"]
                                                  / minimal[-1]["server_cpu_ms_per_request"], 1)
                runs.append(run)
    finally:
        sim.stop()
    report = {"machine": machine(), "command": " ".join(sys.argv), "runs": runs, "minimal_app": minimal}
    if args.compare:
        report["ratios_other_over_this"] = ratios(runs)
    print(table(runs, minimal))
    if args.compare:
        print("ratios (compared tree ÷ this tree, per round):", json.dumps(report["ratios_other_over_this"]))
    for run in runs:
        if failures_of(run):
            print(f"FAILURES in {run['tree']}: {json.dumps({'sequential': [s['first_failure'] for s in run['sequential']], 'throughput': run['throughput']['first_failure'], 'check': run['check'], 'users': run.get('users', {}).get('first_failure')})}")  # noqa: E501
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 1 if any(failures_of(r) for r in runs) else 0


if __name__ == "__main__":
    raise SystemExit(main())
