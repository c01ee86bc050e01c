-- wrk script for scripts/bench.sh: GET /api/timeline as one user (the token is filled in).
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer @TOKEN@"
wrk.headers["Accept"] = "application/json"

local errors = 0
response = function(status, headers, body)
    if status ~= 200 then errors = errors + 1 end
end

done = function(summary, latency, requests)
    io.write(string.format("non-200 responses: %d\n", summary.errors.status))
end
