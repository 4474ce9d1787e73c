-- refresh.lua: refresh token rotation. Each thread keeps a pool of live
-- refresh tokens (one a line in a file, each from its own sign-in, shared
-- out between the threads); a request takes one from the pool and its
-- answer puts the new one back, so every token is used once, as a client
-- would. The pool must hold more tokens than the thread has connections.
--
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/refresh.lua http://127.0.0.1:8080/oauth/token \
--     -- "Basic <base64(id:secret)>" refresh-tokens.txt 2
--
-- Arguments: Authorization header value, tokens file, number of wrk threads.
local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
setup, done = report.setup, report.done
bad, exhausted = 0, 0

local pool = {}
function init(args)
   wrk.method = "POST"
   wrk.headers["Authorization"] = args[1]
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   pool = report.lines(args[2], id, tonumber(args[3]))
end

function request()
   local t = table.remove(pool)
   if not t then
      exhausted = exhausted + 1
      t = "exhausted"
   end
   return wrk.format(nil, nil, nil, "grant_type=refresh_token&refresh_token=" .. report.urlencode(t))
end

function response(status, headers, body)
   local t = body:match('"refresh_token":"([^"]+)"')
   if status ~= 200 or not t then
      bad = bad + 1
      return
   end
   pool[#pool + 1] = t
end
