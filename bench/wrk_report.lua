-- wrk script for `make bench`: the request comes from the environment, and
-- done() prints what wrk's own summary lacks: p99.9 and a count per HTTP
-- status (wrk itself only reports "Non-2xx or 3xx responses").
--   BENCH_METHOD      GET (default), POST, ...
--   BENCH_BODY_FILE   request body, sent with Content-Type: application/json
--   BENCH_AUTH        Authorization header value
--   BENCH_ID_FIRST, BENCH_ID_COUNT
--                     each request goes to <path>/<id>, with id one of
--                     FIRST ... FIRST+COUNT-1 at random (requests formatted
--                     once per thread, in init)
--   BENCH_MIX         "GET LIST PATCH ACTION CREATE": the share in % of each
--                     kind of request (e.g. "40 40 8 7 5"; "100 0 0 0 0": gets
--                     only). Each request is one of them at random, for a
--                     tenant at random: the Authorization of its line of
--                     BENCH_MIX_TOKENS (a bearer token per line), one of the
--                     ids of BENCH_ID_FIRST/BENCH_ID_COUNT (get, PATCH, the
--                     actions beginOnboarding and disconnect in turn), the
--                     collection's first page or a create.
--                     BENCH_MIX_CREATE and BENCH_MIX_PATCH are the bodies,
--                     BENCH_MIX_LIST the list's query.
--   BENCH_STOP_AFTER  each thread stops after this many responses (0: never)
--                     and creates the file BENCH_STOP_MARKER<thread number>;
--                     wrk itself still waits for -d unless sent SIGINT, which
--                     bench.py does once every thread has left its marker
-- Output lines (parsed by bench/bench.py):
--   BENCH-RESULT key=value ...   latencies in microseconds
--   BENCH-STATUS <status> <count>

local method = os.getenv("BENCH_METHOD") or "GET"
local body_file = os.getenv("BENCH_BODY_FILE") or ""
local auth = os.getenv("BENCH_AUTH") or ""
local stop_after = tonumber(os.getenv("BENCH_STOP_AFTER") or "0") or 0
local stop_marker = os.getenv("BENCH_STOP_MARKER") or ""
local id_first = tonumber(os.getenv("BENCH_ID_FIRST") or "") or 0
local id_count = tonumber(os.getenv("BENCH_ID_COUNT") or "") or 0

wrk.method = method
if body_file ~= "" then
   local f = assert(io.open(body_file, "rb"))
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"
end
if auth ~= "" then
   wrk.headers["Authorization"] = auth
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
   thread:set("number", #threads)
end

local mix = os.getenv("BENCH_MIX") or ""

local function slurp(name)
   local f = assert(io.open(os.getenv(name), "rb"))
   local text = f:read("*a")
   f:close()
   return text
end

-- wrk calls request() only when the script defines it: other rows keep
-- wrk's single static request
if mix ~= "" then
   local bounds, sum = {}, 0
   for share in mix:gmatch("%d+") do
      sum = sum + tonumber(share)
      table.insert(bounds, sum)
   end
   -- per tenant, the headers of a request without a body and of one with:
   -- wrk.format writes Content-Length into the table it is given
   local reads, writes = {}, {}
   local create_body, patch_body
   local actions, turn = {"/beginOnboarding", "/disconnect"}, 0

   function init(args)
      math.randomseed(os.time() * 100 + number)
      for line in io.lines(os.getenv("BENCH_MIX_TOKENS")) do
         table.insert(reads, {["Authorization"] = "Bearer " .. line})
         table.insert(writes, {["Authorization"] = "Bearer " .. line,
                               ["Content-Type"] = "application/json"})
      end
      create_body, patch_body = slurp("BENCH_MIX_CREATE"), slurp("BENCH_MIX_PATCH")
   end

   function request()
      local t = math.random(#reads)
      local r = math.random(sum)
      local item = wrk.path .. "/" .. tostring(id_first + math.random(id_count) - 1)
      if r <= bounds[1] then
         return wrk.format("GET", item, reads[t])
      elseif r <= bounds[2] then
         return wrk.format("GET", wrk.path .. "?" .. os.getenv("BENCH_MIX_LIST"), reads[t])
      elseif r <= bounds[3] then
         return wrk.format("PATCH", item, writes[t], patch_body)
      elseif r <= bounds[4] then
         turn = turn % 2 + 1
         return wrk.format("POST", item .. actions[turn], reads[t])
      end
      return wrk.format("POST", wrk.path, writes[t], create_body)
   end
elseif id_count > 0 then
   local requests = {}

   function init(args)
      math.randomseed(os.time() * 100 + number)
      for i = 1, id_count do
         requests[i] = wrk.format(nil, wrk.path .. "/" .. tostring(id_first + i - 1))
      end
   end

   function request()
      return requests[math.random(id_count)]
   end
end

-- per thread (each thread has its own Lua state)
statuses = {}
responses = 0

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   responses = responses + 1
   if stop_after > 0 and responses == stop_after then
      wrk.thread:stop()
      if stop_marker ~= "" then
         assert(io.open(stop_marker .. tostring(number), "w")):close()
      end
   end
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local e = summary.errors
   io.write(string.format(
      "BENCH-RESULT requests=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d p999_us=%d "
         .. "max_us=%d mean_us=%.1f connect_errors=%d read_errors=%d write_errors=%d "
         .. "status_errors=%d timeouts=%d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout))
   for status, n in pairs(counts) do
      io.write(string.format("BENCH-STATUS %d %d\n", status, n))
   end
end
