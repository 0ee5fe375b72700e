-- wrk script: rotates through loadtest/queries.txt, the realistic mix of
-- hits across many country/lang pairs (with case, locale and percent-encoded
-- variants), misses and a few malformed requests.
--   wrk -t1 -c64 -d10s -s loadtest/mix.lua http://127.0.0.1:8080
-- Each wrk thread starts at a different line so threads do not march in step.

local paths = {}
local file = os.getenv("QUERIES") or "loadtest/queries.txt"
for line in io.lines(file) do
    if line ~= "" then paths[#paths + 1] = line end
end
local i = 0

function setup(thread)
    thread:set("offset", math.random(#paths))
end

function init(args)
    i = offset or 0
end

function request()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end
