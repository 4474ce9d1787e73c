-- code.lua: the authorization code exchange. Every request redeems a fresh
-- code from a file made beforehand (one code a line; codes are single-use
-- and live 60 s); the file is shared out between wrk's threads. A request
-- made after a thread's codes ran out is counted as exhausted (and fails):
-- the driver then discards the run.
--
--   wrk -t2 -c32 -d10s --latency -s bench/wrk/code.lua http://127.0.0.1:8080/oauth/token \
--     -- "Basic <base64(id:secret)>" codes.txt 2 "&redirect_uri=…&code_verifier=…"
--
-- Arguments: Authorization header value, codes file, number of wrk threads,
-- the rest of the form (already encoded, starting with &).
local report = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
setup, done = report.setup, report.done
bad, exhausted = 0, 0

local codes, nextCode, rest = {}, 1, ""
function init(args)
   wrk.method = "POST"
   wrk.headers["Authorization"] = args[1]
   wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
   codes = report.lines(args[2], id, tonumber(args[3]))
   rest = args[4] or ""
end

function request()
   local code = codes[nextCode]
   if code then
      nextCode = nextCode + 1
   else
      exhausted = exhausted + 1
      code = "exhausted"
   end
   return wrk.format(nil, nil, nil, "grant_type=authorization_code&code=" .. report.urlencode(code) .. rest)
end

function response(status, headers, body)
   if status ~= 200 or not body:find('"id_token"', 1, true) then bad = bad + 1 end
end
