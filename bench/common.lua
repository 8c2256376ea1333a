-- Shared by the wrk scripts: the API key, per-thread ids for fresh Idempotency-Keys, and a JSON summary.
-- Every request gets a key made of the run's random prefix, the thread id and a per-thread counter,
-- so no two requests of any run ever share an Idempotency-Key.
local threads_started = 0

function setup(thread)
   threads_started = threads_started + 1
   thread:set("thread_id", threads_started)
end

function common_init()
   math.randomseed(os.time() + thread_id * 7919)
   run_prefix = os.getenv("BENCH_RUN_ID") .. "-" .. thread_id .. "-"
   counter = 0
   players = tonumber(os.getenv("BENCH_PLAYERS") or "10000")
   wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_API_KEY")
   wrk.headers["Content-Type"] = "application/json"
end

function fresh_key()
   counter = counter + 1
   return run_prefix .. counter
end

-- wrk.format uses the headers it is given instead of wrk.headers, so copy them
function headers_with_key(key)
   local headers = {}
   for name, value in pairs(wrk.headers) do
      headers[name] = value
   end
   headers["Idempotency-Key"] = key
   return headers
end

function random_player()
   return math.random(1, players)
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '\nBENCH_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, ' ..
      '"errors_connect": %d, "errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout))
end
