-- wrk script: every request posts a different single-use code (one file per thread).
local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  codes = {}
  local path = os.getenv("CODES_DIR") .. "/codes_" .. id .. ".txt"
  for line in io.lines(path) do table.insert(codes, line) end
  i = 0
  non2xx = 0
  key = os.getenv("API_KEY")
  scenario = os.getenv("SCENARIO") or "hotel_checkin"
end

function request()
  i = i + 1
  local code = codes[((i - 1) % #codes) + 1]
  local body = '{"text":"' .. code .. '","scenario":"' .. scenario .. '"}'
  return wrk.format("POST", "/v1/verify",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function response(status, headers, body)
  if status ~= 200 then non2xx = non2xx + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("non2xx") end
  io.write(string.format("RESULT requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout))
end
