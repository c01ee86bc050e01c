#!/usr/bin/env bash
# Brings a running chirpd to life: creates demo users (password "chirpdemo") and a follow graph,
# then tweets, likes, follows and messages at a steady pace for a minute.
# Usage: scripts/demo.sh [URL]   (default http://localhost:8000; or CHIRP_URL)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
url="${1:-${CHIRP_URL:-http://localhost:8000}}"
if ! command -v node >/dev/null; then
  echo "demo.sh needs node (scripts/run.sh installs it)" >&2
  exit 1
fi
exec node "$here/demo.mjs" "$url" "${CHIRP_DEMO_SECONDS:-60}"
