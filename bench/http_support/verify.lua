-- wrk script for bench/http.py: a fixed number of requests, every one posting a
-- different single-use code (one file of codes per thread; each code is sent once).
--
-- Each thread sends exactly as many requests as its file has codes, then stops once
-- every one of them is answered, so no request is left in flight when wrk reports and
-- "sent" (counted here: wrk's own total counts only completed responses) can be
-- compared exactly with the access records the server wrote.
--
-- wrk calls request() once more than it sends: at start-up, on the first thread's state,
-- to see whether the script pipelines (script_verify_request in wrk.c), before any
-- connection exists. That call is not a request: it is recognised (no delay() has run
-- yet: every real send goes through delay() first when the script has one), spends no
-- code and is not counted. (Counting it made "sent" one higher than the answers, and
-- the first thread then waited for an answer that could never come until -d ran out.)
--
-- RATE (optional, requests per second for all threads together) paces the run on a
-- fixed schedule: each thread hands out send times at equal intervals, and a connection
-- that is free waits for the next one. The offered rate is fixed, whatever the server's
-- latency, as long as a connection is free (50 connections: it is, at rates the server
-- sustains); when none is, the achieved rate falls below the offered one and is shown.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } elk_timespec;
  int clock_gettime(int clk_id, elk_timespec *tp);
  int getpid(void);
  int kill(int pid, int sig);
]]
local ts = ffi.new("elk_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

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
  sent = 0
  started = false -- set by the first delay(): request() before it is wrk's probe
  granted = 0 -- sends allowed by delay() whose request() has not run yet
  answered = 0
  non2xx = 0
  first_bad = "" -- the first refusal's status and problem code, to show why
  key = os.getenv("API_KEY")
  scenario = os.getenv("SCENARIO") or "hotel_checkin"
  local rate = tonumber(os.getenv("RATE") or "0")
  interval = 0
  -- THREADS: this Lua state cannot see setup()'s counter (it runs in wrk's main state).
  if rate > 0 then interval = 1000 * tonumber(os.getenv("THREADS") or "2") / rate end
  next_due = now_ms()
  first_ms = 0
  last_ms = 0
end

function delay()
  -- delay() decides, request() runs later (after the wait): count the decision, or
  -- several connections could each take the last code.
  started = true
  if sent + granted >= #codes then return 3600 * 1000 end -- done: the connection idles
  granted = granted + 1
  if interval == 0 then return 0 end
  local now = now_ms()
  if next_due < now then next_due = now end -- behind schedule: send now
  local wait = next_due - now
  next_due = next_due + interval
  return math.floor(wait)
end

local function post(code)
  local body = '{"text":"' .. code .. '","scenario":"' .. scenario .. '"}'
  return wrk.format("POST", "/v1/verify",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, body)
end

function request()
  if not started then return post(codes[1]) end -- wrk's start-up probe: never sent
  if granted > 0 then granted = granted - 1 end -- else a resend after a reconnection
  sent = sent + 1
  if first_ms == 0 then first_ms = now_ms() end
  -- Past the end (only a resend after a reconnection can get here): the last code
  -- again, which the server refuses as replayed (shown).
  return post(codes[math.min(sent, #codes)])
end

-- wrk's main thread sleeps for the whole -d before it collects the threads, whatever they
-- do: the thread that finishes last (each leaves a file; the last one sees them all)
-- interrupts that sleep with SIGINT, which wrk takes as "stop now".
local function finished()
  local dir = os.getenv("CODES_DIR")
  io.open(dir .. "/done_" .. id, "w"):close()
  for t = 0, tonumber(os.getenv("THREADS") or "2") - 1 do
    local f = io.open(dir .. "/done_" .. t, "r")
    if f == nil then return end
    f:close()
  end
  ffi.C.kill(ffi.C.getpid(), 2) -- SIGINT
end

function response(status, headers, body)
  answered = answered + 1
  last_ms = now_ms()
  if status ~= 200 then
    non2xx = non2xx + 1
    if first_bad == "" then
      first_bad = status .. " " .. (string.match(body or "", '"code":"([%w._]+)"') or "?")
    end
  end
  if answered == #codes then
    wrk.thread:stop()
    finished()
  end
end

function done(summary, latency, requests)
  local s, a, bad = 0, 0, 0
  local first, last = math.huge, 0
  for _, t in ipairs(threads) do
    if t:get("first_bad") ~= "" then io.write("NON2XX " .. t:get("first_bad") .. "\n") end
    s = s + t:get("sent")
    a = a + t:get("answered")
    bad = bad + t:get("non2xx")
    if t:get("first_ms") > 0 then first = math.min(first, t:get("first_ms")) end
    last = math.max(last, t:get("last_ms"))
  end
  io.write(string.format(
    "RESULT requests=%d seconds=%.3f p50_ms=%.2f p99_ms=%.2f non2xx=%d errors=%d sent=%d answered=%d\n",
    summary.requests, (last - first) / 1000, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, bad,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status
      + summary.errors.timeout, s, a))
end
