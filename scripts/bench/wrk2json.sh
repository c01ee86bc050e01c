#!/usr/bin/env bash
# Reads wrk --latency output on stdin and prints {"requestsPerSecond", "p50Ms", "p90Ms",
# "p99Ms", "non2xx", "socketErrors"} for `chirp-bench summary`.
set -euo pipefail
awk '
function ms(v) {
    if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
    if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
    if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
    return v + 0
}
/Requests\/sec:/ { rps = $2 }
/^ +50%/ { p50 = ms($2) }
/^ +90%/ { p90 = ms($2) }
/^ +99%/ { p99 = ms($2) }
/Non-2xx or 3xx responses:/ { non2xx = $NF }
/Socket errors:/ { gsub(/,/, ""); errs = $4 + $6 + $8 + $10 }
END {
    printf "{\"requestsPerSecond\": %s, \"p50Ms\": %s, \"p90Ms\": %s, \"p99Ms\": %s, \"non2xx\": %d, \"socketErrors\": %d}\n",
        rps + 0, p50 + 0, p90 + 0, p99 + 0, non2xx + 0, errs + 0
}'
