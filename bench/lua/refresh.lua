-- POST /api/v1/auth/token/refresh/ on chains of refresh tokens.
-- BENCH_TOKENS: file of refresh tokens (one a line, one per login session),
-- split between the wrk threads. Each thread keeps a FIFO pool: request()
-- takes a token never sent before, response() puts the rotated token of a
-- 200 back at the end. A thread whose pool is empty when it must send (it
-- should not happen: 32 tokens for 4 connections) sends an invalid token
-- and counts it in `starved`.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
extra_totals = { "starved", "refreshed" }

local pool, head, tail = {}, 1, 0
starved = 0
refreshed = 0

local function push(token)
  tail = tail + 1
  pool[tail] = token
end

function init(args)
  for _, token in ipairs(my_share(read_lines(os.getenv("BENCH_TOKENS")))) do
    push(token)
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  if is_check_call() then
    return wrk.format("POST", "/api/v1/auth/token/refresh/", nil, '{"refresh_token":"check"}')
  end
  local token
  if head <= tail then
    token = pool[head]
    pool[head] = nil
    head = head + 1
  else
    starved = starved + 1
    token = "starved"
  end
  return wrk.format("POST", "/api/v1/auth/token/refresh/", nil,
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  if check(status, body) then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then
      refreshed = refreshed + 1
      push(token)
    else
      non200 = non200 + 1
      first_error = first_error or ("200 without refresh_token: " .. string.sub(body, 1, 200))
    end
  end
end
