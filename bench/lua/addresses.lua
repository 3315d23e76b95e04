-- BENCH_ADDRESSES requests to POST /api/v1/auth/login/, each from a new
-- client address (X-Forwarded-For, see client_address: IPv4 and IPv6 in
-- turn; the server must trust 127.0.0.1), with an empty JSON object as
-- body: each is counted by the per-IP rate limit, then refused with 400
-- (expected). Ends when they are sent ("each once", common.lua).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
extra_totals = { "limited", "fillers" }

local per_thread = 0
limited = 0

function init(args)
  per_thread = math.floor(tonumber(os.getenv("BENCH_ADDRESSES")) / wrk_threads())
  once_start(per_thread)
end

function request()
  return once_post("/api/v1/auth/login/", function() return "{}" end)
end

function response(status, headers, body)
  if once_answered(status, body) then
    if status == 429 then
      limited = limited + 1
    end
    check(status, body, 400)
  end
end
