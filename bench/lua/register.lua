-- POST /api/v1/auth/register/ with a new address each time
-- (reg-<BENCH_TAG>-<thread>-<n>@example.org); 201 expected.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tag = os.getenv("BENCH_TAG") or "x"
local n = 0

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local body = string.format(
    '{"email":"reg-%s-%d-%d@example.org","password":"Bench-Passw0rd-r","first_name":"Bench","last_name":"User"}',
    tag, id, n)
  return wrk.format("POST", "/api/v1/auth/register/", nil, body)
end

function response(status, headers, body)
  check(status, body, 201)
end
