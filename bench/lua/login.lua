-- POST /api/v1/auth/login/ cycling over the bench users.
-- BENCH_USERS: file of "email<TAB>password" lines. Each wrk thread cycles
-- over its own share of the users (a per-thread counter), so two requests in
-- flight never wait on the same user's session actor.
--
-- Like a real client, each user sends the newest `device_token` its last
-- login returned (a known device: the device's own failure budget, no
-- new-device check); the first login of each user in a thread is a new
-- device. BENCH_NEW_DEVICES=1 sends none, so every login is a new device
-- (the new-device check, a device row created, an alert within its budget).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local users = {}
local devices = {}
local n = 0
local keep_devices = os.getenv("BENCH_NEW_DEVICES") ~= "1"

function init(args)
  for _, line in ipairs(my_share(read_lines(os.getenv("BENCH_USERS")))) do
    local email, password = line:match("^([^\t]+)\t([^\t]+)$")
    users[#users + 1] = { email = email, password = password }
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n % #users + 1
  local u = users[n]
  local device = devices[u.email]
  local body = '{"email":"' .. u.email .. '","password":"' .. u.password .. '"'
  if device then
    body = body .. ',"device_token":"' .. device .. '"'
  end
  return wrk.format("POST", "/api/v1/auth/login/", nil, body .. "}")
end

function response(status, headers, body)
  if check(status, body) and keep_devices then
    local email = body:match('"email":"([^"]+)"')
    local device = body:match('"device_token":"([^"]+)"')
    if email and device then
      devices[email] = device
    end
  end
end
