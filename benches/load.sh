#!/usr/bin/env bash
# Loopback load benchmark of /metrics, measured side by side in one run:
#   proxy-quota-exporter (identity and gzip), a minimal hyper server returning the
#   very same bytes from memory (the physical limit), a Python prometheus_client
#   exporter and the Go Pushgateway holding the same series.
# Also: resident memory of the exporter idle in demo mode and at each size, the
# poll cost of a big account list, and one polling round of 1,000 targets.
#
# Usage: benches/load.sh [SERIES ...]   (default: 1000 10000 100000)
# Environment: DURATION (default 10s), CONNECTIONS (default 16).
# Everything listens on 127.0.0.1 only; every run is bounded by DURATION.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-16}
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(1000 10000 100000)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v prometheus-pushgateway >/dev/null || [ -x /usr/bin/prometheus-pushgateway ] || need_apt+=(prometheus-pushgateway)
if [ ${#need_apt[@]} -gt 0 ]; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
python3 -c 'import prometheus_client' 2>/dev/null || python3 -m pip install --quiet prometheus_client

cargo build --release --locked --quiet --bin proxy-quota-exporter --example simulator --example static_server --example poll_cost --example round
bin=target/release
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# Requests per second of wrk against $1 (extra wrk arguments follow).
rps() {
  local url=$1; shift
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --timeout 30s "$@" "$url" | awk '/^Requests\/sec:/ {print $2}'
}
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{a/b:.2f}' if b>0 else 'inf')" "$1" "$2"; }

echo "# proxy-quota-exporter load benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, wrk -t1 -c$CONNECTIONS -d$DURATION"
echo
echo "| series | exporter req/s | static req/s | exporter/static | exporter gzip req/s | python req/s | exporter/python | pushgateway req/s | exporter/pushgateway | exporter RSS MiB |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for series in "${SIZES[@]}"; do
  accounts=$(( series / 4 ))
  "$bin/examples/simulator" --sub-accounts "$accounts" --static-ips 0 --customers 0 > "$tmp/sim.url" &
  pids+=($!)
  for _ in $(seq 1 100); do [ -s "$tmp/sim.url" ] && break; sleep 0.1; done
  sim=$(head -1 "$tmp/sim.url")
  cat > "$tmp/config.yml" <<YAML
interval: 1h
targets:
  - name: bench
    provider: bestproxy
    base_url: $sim
    app_key: demo-bestproxy-app-key
    endpoints: [accounts]
YAML
  port=$(free_port)
  "$bin/proxy-quota-exporter" --config.file "$tmp/config.yml" --web.listen-address "127.0.0.1:$port" --log.level warn &
  exporter=$!; pids+=($exporter)
  wait_http "http://127.0.0.1:$port/-/ready"
  curl -fsS "http://127.0.0.1:$port/metrics" > "$tmp/metrics.txt"
  lines=$(grep -vc '^#' "$tmp/metrics.txt")

  static_port=$(free_port)
  "$bin/examples/static_server" "$tmp/metrics.txt" "$static_port" &
  pids+=($!)
  python_port=$(free_port)
  python3 benches/peers/python_exporter.py "$tmp/metrics.txt" "$python_port" &
  pids+=($!)
  push_port=$(free_port)
  /usr/bin/prometheus-pushgateway --web.listen-address="127.0.0.1:$push_port" --persistence.file="" >/dev/null 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$static_port/metrics"
  wait_http "http://127.0.0.1:$python_port/metrics"
  wait_http "http://127.0.0.1:$push_port/metrics"
  grep -v 'process_' "$tmp/metrics.txt" | curl -fsS --data-binary @- "http://127.0.0.1:$push_port/metrics/job/bench" >/dev/null

  exporter_rps=$(rps "http://127.0.0.1:$port/metrics")
  rss=$(( $(rss_kib "$exporter") / 1024 ))
  gzip_rps=$(rps "http://127.0.0.1:$port/metrics" -H 'Accept-Encoding: gzip')
  static_rps=$(rps "http://127.0.0.1:$static_port/metrics")
  python_rps=$(rps "http://127.0.0.1:$python_port/metrics")
  push_rps=$(rps "http://127.0.0.1:$push_port/metrics")
  echo "| $lines | $exporter_rps | $static_rps | $(ratio "$exporter_rps" "$static_rps") | $gzip_rps | $python_rps | $(ratio "$exporter_rps" "$python_rps") | $push_rps | $(ratio "$exporter_rps" "$push_rps") | $rss |"
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
done

echo
port=$(free_port)
"$bin/proxy-quota-exporter" --demo --web.listen-address "127.0.0.1:$port" --log.level warn &
demo=$!; pids+=($demo)
wait_http "http://127.0.0.1:$port/-/ready"
sleep 10
echo "Demo mode, idle after 10 s: RSS $(( $(rss_kib "$demo") / 1024 )) MiB (simulator included)"
kill "$demo"; wait 2>/dev/null || true; pids=()
echo
echo "Poll cost: $("$bin/examples/poll_cost" 100000)"
echo "Polling round: $("$bin/examples/round" 1000 50 100)"
