-- wrk script for loadtest/cluster.sh: cycles through valid ad requests
-- (hits and misses, so 200 and 404 are both correct answers) and counts
-- every other status as a failure. Prints "answers=N failures=M" at the end.
local paths = {
    "/ad_request?country=us&lang=eng", "/ad_request?country=ca&lang=fre",
    "/ad_request?country=gb&lang=eng", "/ad_request?country=de&lang=ger",
    "/ad_request?country=br&lang=por", "/ad_request?country=jp&lang=jpn",
    "/ad_request?country=zz&lang=eng", "/ad_request?country=us&lang=spa",
}
local threads = {}
local i = 0

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    answers, failures = 0, 0
end

function request()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end

function response(status, headers, body)
    if status == 200 or status == 404 then
        answers = answers + 1
    else
        failures = failures + 1
    end
end

function done(summary, latency, requests)
    local a, f = 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("answers")
        f = f + t:get("failures")
    end
    local e = summary.errors
    local socket = e.connect + e.read + e.write + e.timeout
    io.write(string.format("answers=%d failures=%d socket_errors=%d\n", a, f, socket))
end
