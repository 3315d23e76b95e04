-- POST /api/v1/auth/logout/ with "Authorization: Bearer <token>", each
-- access token (file BENCH_TOKENS, one a line, one per login) used once.
-- The tokens are split between the wrk threads; a thread that has had an
-- answer for each of its tokens writes BENCH_DONE_DIR/done-<id> and stops,
-- and bench/run then interrupts wrk (SIGINT), so wrk's duration is the time
-- the tokens lasted. delay() holds back a connection once the pool is empty
-- so nothing else is sent. done() prints "bench logouts=<n>" and
-- "bench logout_rps=<n / wrk duration>" (what bench/run reports).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
extra_totals = { "logouts", "fillers" }

local tokens = {}
local sent, answered = 0, 0
local filler_pending = 0
logouts = 0
fillers = 0

function init(args)
  tokens = my_share(read_lines(os.getenv("BENCH_TOKENS")))
end

function delay()
  if sent < #tokens then
    return 0
  end
  return 3600000
end

function request()
  if is_check_call() then
    return wrk.format("POST", "/api/v1/auth/logout/",
      { ["Authorization"] = "Bearer check", ["Host"] = wrk.headers["Host"] })
  end
  if sent < #tokens then
    sent = sent + 1
    local headers = {
      ["Authorization"] = "Bearer " .. tokens[sent],
      ["Host"] = wrk.headers["Host"],
    }
    return wrk.format("POST", "/api/v1/auth/logout/", headers)
  end
  -- Another connection took the last token between delay() and now.
  fillers = fillers + 1
  filler_pending = filler_pending + 1
  return wrk.format("GET", "/healthz", { ["Host"] = wrk.headers["Host"] })
end

function response(status, headers, body)
  if filler_pending > 0 and status == 200 and body:find('"message":"ok"', 1, true) then
    filler_pending = filler_pending - 1
    return
  end
  answered = answered + 1
  if check(status, body) then
    logouts = logouts + 1
  end
  if answered == #tokens then
    local dir = os.getenv("BENCH_DONE_DIR")
    if dir then
      local f = io.open(dir .. "/done-" .. tostring(id), "w")
      if f then
        f:write(tostring(answered), "\n")
        f:close()
      end
    end
    wrk.thread:stop()
  end
end

function done_extra(summary, totals)
  local seconds = summary.duration / 1e6
  io.write(string.format("bench logout_rps=%.2f\n", totals.logouts / seconds))
end
