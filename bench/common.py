"""Helpers shared by the bench scripts: ports, /proc readings, waiting for a server, wrk."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def descendants(pid: int) -> list[int]:
    """pid and every process below it (a server may fork workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process, its threads and its live children (and the children
    it has waited for), from /proc/<pid>/stat."""
    total = 0.0
    for index, member in enumerate(descendants(pid)):
        try:
            fields = _stat(member)
        except OSError:
            continue
        ticks = int(fields[11]) + int(fields[12])
        if index == 0:
            ticks += int(fields[13]) + int(fields[14])  # children already reaped
        total += ticks / TICK
    return total


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of a process and its children, MiB."""
    total = 0
    for member in descendants(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    """Poll a starting subprocess until `url` answers 200 (not part of any measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode} before answering")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


def run_wrk(url: str, *, connections: int, seconds: float, script: str = "venue_webhook.lua",
            env: dict[str, str] | None = None) -> dict:
    """wrk with one thread per connection and the given Lua script (which prints `BENCH {json}`
    from done()); requests/s from the counts of replies and wrk's run time."""
    command = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
               "-s", str(BENCH / script), url]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **(env or {})})
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({result.returncode}): {result.stdout[-500:]} {result.stderr[-500:]}")
    data = json.loads(line[len("BENCH "):])
    data["per_sec"] = round(data["completed"] / data["duration_s"], 1)
    errors = [ln.strip() for ln in result.stdout.splitlines() if "Socket errors" in ln]
    data["socket_errors"] = errors[0] if errors else None
    return data
