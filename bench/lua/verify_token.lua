-- GET /api/v1/auth/verify-token/ with "Authorization: Bearer <token>",
-- cycling over the access tokens in the file BENCH_TOKENS (one a line).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local requests = {}
local n = 0

function init(args)
  for _, token in ipairs(my_share(read_lines(os.getenv("BENCH_TOKENS")))) do
    local headers = { ["Authorization"] = "Bearer " .. token, ["Host"] = wrk.headers["Host"] }
    requests[#requests + 1] = wrk.format("GET", "/api/v1/auth/verify-token/", headers)
  end
end

function request()
  n = n % #requests + 1
  return requests[n]
end

function response(status, headers, body)
  check(status, body)
end
