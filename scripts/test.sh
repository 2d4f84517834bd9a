#!/usr/bin/env bash
# Runs every test of proxy-quota-exporter: formatting, lints, unit, integration,
# golden-file and end-to-end tests, alert rule tests. Installs what the tests need
# when it is missing (Debian's `prometheus` package for promtool and a real
# Prometheus, `prometheus-alertmanager` for a real Alertmanager, `chromium` for the
# front page's browser test, rustfmt and clippy).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

packages=()
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  packages+=(prometheus)
fi
command -v prometheus-alertmanager >/dev/null 2>&1 || packages+=(prometheus-alertmanager)
command -v chromium >/dev/null 2>&1 || packages+=(chromium fonts-liberation)
if [ ${#packages[@]} -gt 0 ]; then
  echo "--- installing Debian's ${packages[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    echo "--- installing $component"
    rustup component add "$component"
  fi
done

echo "--- cargo fmt --check"
cargo fmt --all -- --check
echo "--- cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "--- promtool check rules / test rules"
promtool check rules alerts/*.rules.yml
promtool test rules alerts/tests/*.test.yml
echo "--- deployment files"; ./scripts/validate-deploy.sh
echo "--- cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Binaries started by the tests keep no store in the repository's data/.
export PROXY_QUOTA_EXPORTER_STORAGE_PATH=
# The integration tests mostly wait (for polls, Prometheus, Chromium): six at
# a time take half the time of two on two cores (docs/development.md). The
# process-wide ones (tests/process) and the unit tests run as cargo's default.
cargo test --locked --lib --bins --test process 2>&1 | tee "$log"
cargo test --locked --test it -- --test-threads 6 2>&1 | tee -a "$log"
cargo test --locked --doc 2>&1 | tee -a "$log"
# One closing line for all test binaries (cargo prints one per binary, the last
# being the doc tests, which has none).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "tests: %d passed, %d failed\n", passed, failed }' "$log"
