#!/usr/bin/env bash
# Race HQ on a generated race: installs the project, then runs `coursewatch demo`
# (about 50 simulated runners replayed fast; it prints the URL). Extra arguments go to the demo,
# e.g.  bash scripts/demo.sh --speed 120 --port 8090
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
install_python_env
exec .venv/bin/coursewatch demo "$@"
