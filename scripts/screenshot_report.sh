#!/usr/bin/env bash
# Render a study report (report.html) to a PNG with headless Chromium, to check
# that it displays with no network.
#
# Usage: scripts/screenshot_report.sh REPORT.html [OUT.png] [HEIGHT]
#   OUT.png defaults to REPORT.png next to the report; HEIGHT to 4000 pixels.
# Needs Debian's chromium (/usr/bin/chromium) or CHROMIUM=/path/to/chromium.
set -euo pipefail
if [ $# -lt 1 ]; then
    echo "usage: $0 REPORT.html [OUT.png] [HEIGHT]" >&2
    exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "${2:-${report%.html}.png}")
height=${3:-4000}
chromium=${CHROMIUM:-/usr/bin/chromium}
[ -f "$report" ] || { echo "error: no such file: $report" >&2; exit 2; }
[ -x "$chromium" ] || { echo "error: chromium not found at $chromium (set CHROMIUM=...)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars \
    --window-size=1280,"$height" --screenshot="$out" "file://$report" >/dev/null 2>&1
[ -s "$out" ] || { echo "error: chromium wrote no screenshot" >&2; exit 1; }
echo "$out"
