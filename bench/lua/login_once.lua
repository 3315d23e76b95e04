-- POST /api/v1/auth/login/ once for each user of BENCH_USERS
-- ("email<TAB>password" lines), each from its own client address
-- (X-Forwarded-For, see client_address; the server must trust 127.0.0.1),
-- then the run ends ("each once", common.lua). bench/scale's memory run.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")
extra_totals = { "logins", "fillers" }

local bodies = {}
logins = 0

function init(args)
  for _, line in ipairs(my_share(read_lines(os.getenv("BENCH_USERS")))) do
    local email, password = line:match("^([^\t]+)\t([^\t]+)$")
    bodies[#bodies + 1] = '{"email":"' .. email .. '","password":"' .. password .. '"}'
  end
  once_start(#bodies)
end

function request()
  return once_post("/api/v1/auth/login/", function(n) return bodies[n] end)
end

function response(status, headers, body)
  if once_answered(status, body) and check(status, body) then
    logins = logins + 1
  end
end
