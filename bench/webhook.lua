-- wrk script for bench/webhook_latency.py: unique alerts over 50 symbols, buys and closes.
-- The secret comes from the SPARKY_BENCH_SECRET environment variable.
local secret = os.getenv("SPARKY_BENCH_SECRET") or "bench-secret"
local counter = 0
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

request = function()
  counter = counter + 1
  local n = counter
  local symbol = "T" .. (n % 50) .. "USDT"
  local action = (math.floor(n / 50) % 2 == 0) and "buy" or "close"
  local body = string.format(
    '{"secret":"%s","exchange":"paper","action":"%s","symbol":"%s","price":%d,'
    .. '"position_size_usd":100,"stop_loss_percent":2,"take_profit_percent":4,"alert_id":"w%d-%d"}',
    secret, action, symbol, 100 + n % 7, tid or 0, n)
  return wrk.format("POST", "/webhook", {["Content-Type"] = "application/json"}, body)
end
