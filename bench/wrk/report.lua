-- report.lua: shared by the scenario scripts in this directory. It gives
-- each wrk thread an id (0, 1, …) before its init runs, and at the end
-- prints one line, BENCHJSON {…}, that the driver (bench/cmd/load) reads:
-- requests, duration, socket errors, non-2xx/3xx responses, the scripts'
-- own counters (bad: a response that was not the expected answer;
-- exhausted: a request sent after the pre-made codes or tokens ran out)
-- and latency percentiles in microseconds.
local M = {}
local threads = {}

function M.setup(thread)
   thread:set("id", #threads)
   table.insert(threads, thread)
end

function M.done(summary, latency, requests)
   local bad, exhausted = 0, 0
   for _, t in ipairs(threads) do
      bad = bad + (t:get("bad") or 0)
      exhausted = exhausted + (t:get("exhausted") or 0)
   end
   local e = summary.errors
   local f = math.floor
   io.write(string.format(
      'BENCHJSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
      '"status":%d,"timeout":%d,"bad":%d,"exhausted":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%d}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
      e.status, e.timeout, bad, exhausted, f(latency:percentile(50)), f(latency:percentile(90)),
      f(latency:percentile(99)), f(latency.max), f(latency.mean)))
end

-- urlencode form-encodes a value.
function M.urlencode(s)
   return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

-- lines reads a file and keeps the lines that fall to thread id of n.
function M.lines(file, id, n)
   local out, i = {}, 0
   for line in io.lines(file) do
      if line ~= "" then
         if i % n == id then out[#out + 1] = line end
         i = i + 1
      end
   end
   return out
end

return M
