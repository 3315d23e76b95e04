-- Shared by the bench/lua scripts (loaded with dofile; see bench/run).
--
-- Each wrk thread gets an id (0, 1, ...) in setup(); every script counts the
-- responses that are not 200 in the global `non200` of its thread, keeps the
-- first one in `first_error`, and done() prints the totals as lines
-- starting with "bench " that bench/run parses:
--   bench non200=<n>
--   bench first_error=<status> <body prefix>   (only when n > 0)

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

non200 = 0
first_error = nil

-- Counts an answer other than `expected` (default 200); returns true for
-- an expected one.
function check(status, body, expected)
  if status == (expected or 200) then
    return true
  end
  non200 = non200 + 1
  if first_error == nil then
    first_error = tostring(status) .. " " .. string.sub(body or "", 1, 200)
  end
  return false
end

-- wrk calls request() once on thread 0, after init() and before the run,
-- only to check that it returns a well-formed request; that one is never
-- sent. Scripts that consume something per request skip it with this.
local checked = false
function is_check_call()
  if id == 0 and not checked then
    checked = true
    return true
  end
  return false
end

function wrk_threads()
  return tonumber(os.getenv("BENCH_WRK_THREADS") or "2")
end

-- A client address for X-Forwarded-For, distinct for each n in
-- 0..16777215: IPv4 (10.x.y.z) for even n, an IPv6 address in its own /64
-- (2001:db8:x:y::1) for odd n.
function client_address(n)
  if n % 2 == 0 then
    local k = n / 2
    return string.format("10.%d.%d.%d", math.floor(k / 65536) % 256,
      math.floor(k / 256) % 256, k % 256)
  end
  local k = (n - 1) / 2
  return string.format("2001:db8:%x:%x::1", math.floor(k / 65536) % 65536, k % 65536)
end

-- The non-empty lines of a file.
function read_lines(path)
  assert(path, "file not given (environment variable unset)")
  local f = assert(io.open(path, "r"))
  local lines = {}
  for line in f:lines() do
    if line ~= "" then
      lines[#lines + 1] = line
    end
  end
  f:close()
  return lines
end

-- This thread's share of a list: items whose 0-based index is id modulo the
-- number of threads.
function my_share(items)
  local n = wrk_threads()
  local mine = {}
  for i, item in ipairs(items) do
    if (i - 1) % n == id then
      mine[#mine + 1] = item
    end
  end
  assert(#mine > 0, "no items for thread " .. tostring(id))
  return mine
end

-- "Each once" scripts: a thread sends `total` numbered requests (1..total),
-- each once, then stops; once it has an answer for each it writes
-- BENCH_DONE_DIR/done-<id> (bench/run and bench/scale then interrupt wrk
-- with SIGINT, so wrk's duration is the time the requests lasted). delay()
-- holds a connection back once nothing is left to send; a connection that
-- must still send gets a GET /healthz (a filler, not counted).
fillers = 0
local once = { total = 0, sent = 0, answered = 0, filler_pending = 0 }

-- Call from init(); it also sets wrk's delay() for this script.
function once_start(total)
  once.total = total
  delay = once_delay
end

function once_delay()
  if once.sent < once.total then
    return 0
  end
  return 3600000
end

-- The number of the next request to send, or nil (send once_filler()).
function once_next()
  if once.sent < once.total then
    once.sent = once.sent + 1
    return once.sent
  end
  return nil
end

function once_filler()
  fillers = fillers + 1
  once.filler_pending = once.filler_pending + 1
  return wrk.format("GET", "/healthz", { ["Host"] = wrk.headers["Host"] })
end

-- Call first in response(); false when the answer was a filler's.
function once_answered(status, body)
  if once.filler_pending > 0 and status == 200 and body:find('"message":"ok"', 1, true) then
    once.filler_pending = once.filler_pending - 1
    return false
  end
  once.answered = once.answered + 1
  if once.answered == once.total then
    local dir = os.getenv("BENCH_DONE_DIR")
    if dir then
      local f = io.open(dir .. "/done-" .. tostring(id), "w")
      if f then
        f:write(tostring(once.answered), "\n")
        f:close()
      end
    end
    wrk.thread:stop()
  end
  return true
end

-- The next "each once" request: POST `path` with body `body_of(n)` from
-- client address n (X-Forwarded-For, see client_address), or a filler
-- once nothing is left. (wrk's check call gets a GET /healthz.)
function once_post(path, body_of)
  if is_check_call() then
    return wrk.format("GET", "/healthz", { ["Host"] = wrk.headers["Host"] })
  end
  local n = once_next()
  if not n then
    return once_filler()
  end
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Forwarded-For"] = client_address((n - 1) * wrk_threads() + id),
    ["Host"] = wrk.headers["Host"],
  }
  return wrk.format("POST", path, headers, body_of(n))
end

-- Extra per-script totals: list of global names summed over threads in done().
extra_totals = extra_totals or {}

function done(summary, latency, requests)
  local bad, first = 0, nil
  local extras = {}
  for _, t in ipairs(threads) do
    bad = bad + (t:get("non200") or 0)
    first = first or t:get("first_error")
    for _, name in ipairs(extra_totals) do
      extras[name] = (extras[name] or 0) + (t:get(name) or 0)
    end
  end
  io.write(string.format("bench non200=%d\n", bad))
  for _, name in ipairs(extra_totals) do
    io.write(string.format("bench %s=%d\n", name, extras[name]))
  end
  if first then
    io.write("bench first_error=" .. string.gsub(first, "\n", " ") .. "\n")
  end
  if done_extra then
    done_extra(summary, extras)
  end
end
