-- get.lua: GET with an optional Authorization header, and count every answer
-- that is not 200 with the expected text in its body.
--
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/get.lua http://127.0.0.1:8080/userinfo \
--     -- "Bearer <access token>" '"sub"'
--
-- Arguments: Authorization header value ("-" for none), text the body must hold.
local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
setup, done = report.setup, report.done
bad = 0

local expect
function init(args)
   if args[1] ~= "-" then wrk.headers["Authorization"] = args[1] end
   expect = args[2]
end

function response(status, headers, body)
   if status ~= 200 or not body:find(expect, 1, true) then bad = bad + 1 end
end
