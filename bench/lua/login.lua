-- POST /api/v1/auth/login/ cycling over the bench users.
-- BENCH_USERS: file of "email<TAB>password" lines. Each wrk thread cycles
-- over its own share of the users (a per-thread counter), so two requests in
-- flight never wait on the same user's session actor.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local bodies = {}
local n = 0

function init(args)
  for _, line in ipairs(my_share(read_lines(os.getenv("BENCH_USERS")))) do
    local email, password = line:match("^([^\t]+)\t([^\t]+)$")
    bodies[#bodies + 1] = '{"email":"' .. email .. '","password":"' .. password .. '"}'
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n % #bodies + 1
  return wrk.format("POST", "/api/v1/auth/login/", nil, bodies[n])
end

function response(status, headers, body)
  check(status, body)
end
