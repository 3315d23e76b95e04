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

-- Counts a non-200 answer; returns true for a 200.
function check(status, body)
  if status == 200 then
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
