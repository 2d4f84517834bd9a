#!/usr/bin/env bash
# Makes docs/images/front-page.png: runs the demo with a store for a minute (so
# the charts have some history), then lets headless Chromium photograph the
# front page. Needs Debian's chromium (the README's test command installs it).
# BIN=path/to/proxy-quota-exporter skips the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release --locked
  BIN=target/release/proxy-quota-exporter
fi
store=$(mktemp -d)
port=${PORT:-19879}
"$BIN" --demo --demo.interval 2s --storage.path "$store" \
  --web.listen-address "127.0.0.1:$port" --log.level warn &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$store"' EXIT
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1 && break
  sleep 0.2
done
sleep "${WAIT:-60}"
TZ=${TZ:-Europe/Berlin} chromium --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
  --no-first-run --disable-background-networking --disable-component-update \
  --window-size=1000,1700 --virtual-time-budget=3000 \
  --screenshot=docs/images/front-page.png "http://127.0.0.1:$port/" 2>/dev/null
echo "wrote docs/images/front-page.png"
