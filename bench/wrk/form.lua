-- form.lua: POST a fixed form with a fixed Authorization header, and count
-- every answer that is not 200 with the expected text in its body.
--
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/form.lua http://127.0.0.1:8080/oauth/token \
--     -- "Basic <base64(id:secret)>" "grant_type=client_credentials&scope=openid" '"access_token"'
--
-- Arguments: Authorization header value, form body, text the body must hold.
-- Used for client_credentials (the bare bound and Portvakt) and for
-- introspection (expecting "active":true, since an inactive token is also 200).
local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
setup, done = report.setup, report.done
bad = 0

local expect
function init(args)
   wrk.method = "POST"
   wrk.headers["Authorization"] = args[1]
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   wrk.body = args[2]
   expect = args[3]
end

function response(status, headers, body)
   if status ~= 200 or not body:find(expect, 1, true) then bad = bad + 1 end
end
