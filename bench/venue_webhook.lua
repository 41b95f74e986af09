-- wrk script for bench/venue_http.py (and the minimal app): run with as many threads as
-- connections (-tN -cN) so each thread drives ONE connection that trades its own symbol
-- (S<thread>USDT), alternating a buy with stop-loss + take-profit and a close, each with a unique
-- alert_id. Every reply is checked: 200 and "action":"opened" / "closed", else it counts as failed.
-- done() prints one line `BENCH {json}`: latency percentiles (ms) and the counts.
-- Environment: SPARKY_BENCH_SECRET, SPARKY_BENCH_EXCHANGE (aster), SPARKY_BENCH_FIRST_SYMBOL (0).
local secret = os.getenv("SPARKY_BENCH_SECRET") or "bench-secret"
local exchange = os.getenv("SPARKY_BENCH_EXCHANGE") or "aster"
local first = tonumber(os.getenv("SPARKY_BENCH_FIRST_SYMBOL") or "0")
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  ok, failed, counter = 0, 0, 0
  symbol = "S" .. (first + tid) .. "USDT"
  expected = nil
  holding = false
  first_failure = ""
end

request = function()
  counter = counter + 1
  local action, body
  if not holding then
    action, expected = "buy", '"action":"opened"'
    body = string.format(
      '{"secret":"%s","exchange":"%s","action":"buy","symbol":"%s","price":%d,"position_size_usd":100,'
      .. '"stop_loss_percent":2,"take_profit_percent":4,"alert_id":"v%d-%d-%d"}',
      secret, exchange, symbol, 100 + first + tid, tid, counter, os.time())
  else
    action, expected = "close", '"action":"closed"'
    body = string.format(
      '{"secret":"%s","exchange":"%s","action":"close","symbol":"%s","price":%d,"alert_id":"v%d-%d-%d"}',
      secret, exchange, symbol, 100 + first + tid, tid, counter, os.time())
  end
  return wrk.format("POST", "/webhook", {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status == 200 and expected ~= nil and string.find(body, expected, 1, true) then
    ok = ok + 1
    holding = (expected == '"action":"opened"')
  else
    holding = false
    failed = failed + 1
    if first_failure == "" then
      first_failure = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

done = function(summary, latency, requests)
  local ok_total, failed_total, failure = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    failed_total = failed_total + thread:get("failed")
    local f = thread:get("first_failure")
    if failure == "" and f ~= nil then failure = f end
  end
  failure = string.gsub(string.gsub(failure, '\\', '\\\\'), '"', '\\"')
  failure = string.gsub(failure, '[%c]', ' ')
  io.write(string.format(
    'BENCH {"p50_ms":%.2f,"p90_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"completed":%d,'
    .. '"ok":%d,"failed":%d,"duration_s":%.3f,"first_failure":"%s"}\n',
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, summary.requests, ok_total, failed_total,
    summary.duration / 1e6, failure))
end
