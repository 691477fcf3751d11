#!/usr/bin/env bash
# Install steps shared by scripts/test.sh and scripts/demo.sh. Sourced, not run.

install_python_env() {
  # the project, and with "test" the test tools too (the demo needs none of them)
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ "${1:-}" = test ]; then
    .venv/bin/python -m pip install --quiet -e '.[test]'
  else
    .venv/bin/python -m pip install --quiet -e .
  fi
}

install_system_services() {
  # Debian packages the tests drive for real: Chromium for the browser tests, PostgreSQL and Redis for
  # the store's tests (each test run starts its own server, on loopback, in a temporary folder).
  local need=()
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
    fi
  fi
}
