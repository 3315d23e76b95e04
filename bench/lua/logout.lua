-- POST /api/v1/auth/logout/ (or BENCH_PATH, e.g. /api/v1/auth/logout-all/)
-- with "Authorization: Bearer <token>", each
-- access token (file BENCH_TOKENS, one a line, one per login) used once
-- (the "each once" pattern of common.lua: the run ends when they run out).
-- done() prints "bench logouts=<n>" and "bench logout_rps=<n / wrk
-- duration>" (what bench/run reports).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
extra_totals = { "logouts", "fillers" }

local tokens = {}
local path = os.getenv("BENCH_PATH") or "/api/v1/auth/logout/"
logouts = 0

function init(args)
  tokens = my_share(read_lines(os.getenv("BENCH_TOKENS")))
  once_start(#tokens)
end

function request()
  if is_check_call() then
    return wrk.format("POST", path,
      { ["Authorization"] = "Bearer check", ["Host"] = wrk.headers["Host"] })
  end
  local n = once_next()
  if not n then
    return once_filler()
  end
  local headers = {
    ["Authorization"] = "Bearer " .. tokens[n],
    ["Host"] = wrk.headers["Host"],
  }
  return wrk.format("POST", path, headers)
end

function response(status, headers, body)
  if once_answered(status, body) and check(status, body) then
    logouts = logouts + 1
  end
end

function done_extra(summary, totals)
  local seconds = summary.duration / 1e6
  io.write(string.format("bench logout_rps=%.2f\n", totals.logouts / seconds))
end
