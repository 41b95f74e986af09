"""The AI worker's cycle at scale: 100 strategies over 20 symbols, a model answering in 1 s.

Drives the real `AiWorker` (src/sparky/ai/worker.py) on a real SQLite store in a fresh data dir,
with the step and each cycle's market data built by `sparky.ai.wiring.build_ai_parts` from the
settings, as `sparky ai-worker` builds them. The settings point:

- the model client (`AI_LLM_BASE_URL`, `GROQ_API_KEY`, `GROQ_MODEL`) at a local OpenAI-compatible
  simulator started here, which answers every `…/chat/completions` after `--model-sec` with a
  HOLD decision (so no signal is posted and no server is needed);
- Aster (the local user's `config.json` section, `apiUrl`, as bench/venue_http.py does) at
  bench/aster_sim.py, which serves klines and counts them per symbol and interval.

The strategies belong to the local user (whose Aster keys are config.json's), trade on `aster`,
one symbol each, `--strategies` spread evenly over `--symbols` symbols, with
AI_CONCURRENCY=`--concurrency`. Reported per cycle: its duration (target at most 6 s for 100
strategies, 25 at once, a 1 s model), the model requests and the most at once, the candle requests
the venue received (target: one per distinct symbol and interval, however many strategies trade
it), the decisions and errors. The first cycle also loads the venue's rules and clock: it is shown
apart from the others.

Usage: python bench/ai_cycle.py [--strategies 100] [--symbols 20] [--concurrency 25] [--model-sec 1]
       [--cycles 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import free_port  # noqa: E402
from venue_http import Simulator  # noqa: E402

API_KEY = "bench-ai-aster-key"
MODEL = "bench-model"
#: the decision every simulated answer carries: nothing to trade, so no webhook is involved
HOLD = {"action": "HOLD", "confidence": 0.5, "reasoning": "bench: no edge in a flat market"}
CYCLE_TARGET_MS = 6000


class ModelSimulator:
    """An OpenAI-compatible chat completions endpoint answering after `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.requests = 0
        self.active = 0
        self.most_active = 0
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*chat/completions}", self._complete)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def reset(self) -> None:
        self.requests, self.most_active = 0, self.active

    async def _complete(self, request: web.Request) -> web.Response:
        self.requests += 1
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            asked = await request.json()
            await asyncio.sleep(self.delay)
        finally:
            self.active -= 1
        return web.json_response({
            "id": f"chatcmpl-bench-{self.requests}", "object": "chat.completion", "created": int(time.time()),
            "model": asked.get("model", MODEL),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": json.dumps(HOLD)}}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 40, "total_tokens": 1040},
        })

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def configure(data_dir: Path, sim: Simulator, model: ModelSimulator, concurrency: int) -> None:
    """The worker's settings, as the environment gives them to `sparky ai-worker`."""
    for name in list(os.environ):
        if name.startswith(("SUPABASE", "REDIS", "SPARKY_", "AI_", "GROQ_")):
            del os.environ[name]
    config = data_dir / "config.json"
    config.write_text(json.dumps({"aster": {"apiKey": API_KEY, "apiSecret": f"{API_KEY}-secret",
                                            "apiUrl": sim.url}}))
    os.environ.update({
        "SPARKY_DATA_DIR": str(data_dir), "CONFIG_PATH": str(config), "HOST": "127.0.0.1",
        "WEBHOOK_SECRET": "bench-ai-webhook-secret-3c9d", "LOG_LEVEL": "WARNING", "SQLITE_SYNCHRONOUS": "FULL",
        "AI_CONCURRENCY": str(concurrency), "AI_LLM_BASE_URL": model.url, "GROQ_API_KEY": "bench-key",
        "GROQ_MODEL": MODEL,
    })


async def add_strategies(store, count: int, symbols: int) -> None:
    from sparky.signals.auth import LOCAL_USER_ID
    from sparky.store.ai import RUNNING, AiStrategyRecord

    for i in range(count):
        await store.add_ai_strategy(AiStrategyRecord(
            user_id=LOCAL_USER_ID, name=f"bench {i}", status=RUNNING, exchange="aster",
            target_assets=[f"S{i % symbols}USDT"], risk_profile="balanced"))


async def measure(args: argparse.Namespace) -> dict:
    sim = Simulator(args.symbols)
    model = ModelSimulator(args.model_sec)
    await model.start()
    data_dir = Path(tempfile.mkdtemp(prefix="sparky-ai-cycle-"))
    configure(data_dir, sim, model, args.concurrency)
    from sparky.ai.worker import AiWorker
    from sparky.cli.settings_errors import load_settings
    from sparky.logging import configure_logging

    settings = load_settings(_env_file=None)  # the environment above only, no stray .env
    if getattr(settings, "ai_llm_base_url", None) not in (model.url, model.url + "/"):
        raise SystemExit(f"AI_LLM_BASE_URL did not reach the settings (got {getattr(settings, 'ai_llm_base_url', None)!r})")
    configure_logging(settings.log_level, settings.effective_log_format)
    from sparky.ai.wiring import build_ai_parts  # what `sparky ai-worker` builds its parts with

    parts = await build_ai_parts(settings)
    markets = []

    def new_market_data():
        markets.append(parts.new_market_data())
        return markets[-1]

    cycles = []
    try:
        await add_strategies(parts.store, args.strategies, args.symbols)
        worker = AiWorker(parts.store, parts.step, new_market_data, cycle_sec=settings.ai_cycle_sec,
                          concurrency=settings.ai_concurrency, worker_id="bench")
        for n in range(1, args.cycles + 1):
            sim.reset()
            model.reset()
            figures = await worker.run_cycle()
            if figures is None:
                raise SystemExit("the cycle was skipped: the store did not answer")
            stats = sim.stats()
            klines = stats.get("klines", {})
            cycles.append({
                "cycle": n, "cold": n == 1, "duration_ms": figures.duration_ms, "strategies": figures.strategies,
                "decisions": figures.decisions, "errors": figures.errors,
                "model_requests": model.requests, "model_most_at_once": model.most_active,
                "market_requests": markets[-1].requests(),
                "klines_requests": sum(klines.values()), "distinct_symbol_intervals": len(klines),
                "most_klines_per_symbol_interval": max(klines.values(), default=0),
                "venue_requests": stats["requests"],
            })
            print(json.dumps({k: v for k, v in cycles[-1].items() if k != "venue_requests"}), flush=True)
    finally:
        await parts.aclose()
        await model.aclose()
        sim.stop()
    warm = [c for c in cycles if not c["cold"]] or cycles
    return {
        "strategies": args.strategies, "symbols": args.symbols, "concurrency": args.concurrency,
        "model_sec": args.model_sec, "cycles": cycles,
        "worst_warm_cycle_ms": max(c["duration_ms"] for c in warm),
        "cycle_target_met": all(c["duration_ms"] <= CYCLE_TARGET_MS for c in warm),
        "one_request_per_symbol_interval": all(c["most_klines_per_symbol_interval"] <= 1 for c in cycles),
        "all_decided": all(c["decisions"] == args.strategies and c["errors"] == 0 for c in cycles),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strategies", type=int, default=100)
    parser.add_argument("--symbols", type=int, default=20, help="S0USDT … S<n-1>USDT, strategies spread evenly")
    parser.add_argument("--concurrency", type=int, default=25, help="AI_CONCURRENCY")
    parser.add_argument("--model-sec", type=float, default=1.0, help="the simulated model's answer time")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="write the result here too")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    print(json.dumps({k: v for k, v in result.items() if k != "cycles"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if not (result["cycle_target_met"] and result["one_request_per_symbol_interval"] and result["all_decided"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
