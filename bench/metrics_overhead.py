"""CPU of the metrics' bookkeeping on a webhook's path and per venue request (docs/PERFORMANCE.md).

Usage: python bench/metrics_overhead.py [--calls 50000] [--rounds 5]   (with src/ on PYTHONPATH)
"""

from __future__ import annotations

import argparse
import time

from sparky.observability.metrics import Metrics
from sparky.observability.timeline import note_recorded, note_venue, note_venue_request


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    metrics, body = Metrics(), {"action": "opened"}

    def webhook() -> None:
        with metrics.webhook() as timeline:
            note_venue("paper")
            note_recorded()
            note_venue_request()
            metrics.answered(timeline, 200, body)

    def venue_request() -> None:
        metrics.venue_request("aster", "POST", "/fapi/v1/order", 0.01, answered=True)

    for name, call in (("webhook", webhook), ("venue request", venue_request)):
        for _ in range(2_000):
            call()
        figures = []
        for _ in range(args.rounds):
            started = time.process_time()
            for _ in range(args.calls):
                call()
            figures.append((time.process_time() - started) / args.calls * 1e6)
        print(f"{name}: {', '.join(f'{f:.1f}' for f in figures)} µs CPU per call")


if __name__ == "__main__":
    main()
