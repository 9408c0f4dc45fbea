-- wrk script of tests/scenario/test_load.py: GET /vizceral.json the way the
-- page asks for it (Accept-Encoding: gzip), every other request of a thread
-- with If-None-Match set to the last ETag that thread saw (so both 200 and
-- 304 are exercised); every status code is counted, and done() writes the
-- counts and wrk's own error summary to the file named by VIZFEED_WRK_OUT:
--   requests N / duration_us N / errors connect|read|write|status|timeout N /
--   latency p50|p99|max (microseconds) / status CODE N
counts = {} -- a global: done() reads it with thread:get
local etag = nil
local n = 0
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

function request()
   n = n + 1
   local headers = { ["Accept-Encoding"] = "gzip" }
   if etag ~= nil and n % 2 == 0 then
      headers["If-None-Match"] = etag
   end
   return wrk.format("GET", "/vizceral.json", headers)
end

function response(status, headers, body)
   local key = tostring(status)
   counts[key] = (counts[key] or 0) + 1
   local e = headers["ETag"] or headers["etag"] or headers["Etag"]
   if e ~= nil then
      etag = e
   end
end

function done(summary, latency, requests)
   local path = os.getenv("VIZFEED_WRK_OUT") or "wrk-statuses.txt"
   local f = assert(io.open(path, "w"))
   f:write(string.format("requests %d\n", summary.requests))
   f:write(string.format("duration_us %d\n", summary.duration))
   for _, k in ipairs({ "connect", "read", "write", "status", "timeout" }) do
      f:write(string.format("errors %s %d\n", k, summary.errors[k]))
   end
   f:write(string.format("latency p50 %d\n", latency:percentile(50)))
   f:write(string.format("latency p99 %d\n", latency:percentile(99)))
   f:write(string.format("latency max %d\n", latency.max))
   local total = {}
   for _, t in ipairs(threads) do
      local c = t:get("counts") or {}
      for k, v in pairs(c) do
         total[k] = (total[k] or 0) + v
      end
   end
   for k, v in pairs(total) do
      f:write(string.format("status %s %d\n", k, v))
   end
   f:close()
end
