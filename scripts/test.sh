#!/usr/bin/env bash
# The README's test command: installs everything the tests need on a fresh machine, then runs lint and every
# test tier (unit, e2e through real Airflow, integration against real PostgreSQL and a real `akko dev`).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet "uv>=0.13"
uv() { python3 -m uv "$@"; }

# PostgreSQL server binaries and Redis (the Celery broker) for the integration tier (the fixtures start and stop
# their own servers); Chromium and its WebDriver for the Keycloak login test in a real headless browser.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v redis-server >/dev/null \
  || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server \
      chromium chromium-driver >/dev/null
  else
    echo "PostgreSQL server binaries, redis-server or chromedriver missing: install the 'postgresql'," \
      "'redis-server', 'chromium' and 'chromium-driver' packages" >&2
  fi
fi

# Prometheus' statsd_exporter, the Helm chart's version, for tests/e2e/test_metrics.py (skipped without it).
GO="$(command -v go || echo /usr/local/go/bin/go)"
if [ ! -x "$HOME/go/bin/statsd_exporter" ] && ! command -v statsd_exporter >/dev/null && [ -x "$GO" ]; then
  GOBIN="$HOME/go/bin" "$GO" install github.com/prometheus/statsd_exporter@v0.28.0 \
    || echo "statsd_exporter not built: its test will be skipped" >&2
fi

uv sync --locked --quiet
# Many tests start Python processes (Airflow task runners, dag-processors, `akko` CLIs): with bytecode writing
# off (some CI images set PYTHONDONTWRITEBYTECODE) each would compile Airflow's modules again, ~15 s apiece.
unset PYTHONDONTWRITEBYTECODE
uv run --locked ruff check src tests benchmarks
uv run --locked ruff format --check src tests benchmarks
# Two workers (pytest-xdist): a module, and all modules on the cluster stack, each stay on one worker
# (tests/conftest.py). AKKO_TEST_WORKERS=0 runs everything in this process.
uv run --locked pytest -n "${AKKO_TEST_WORKERS:-2}" --dist loadfile "$@"
