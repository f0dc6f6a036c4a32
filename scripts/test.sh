#!/usr/bin/env bash
# Builds nsrig with warnings as errors and runs every test (ctest).
# As root it installs the Debian packages it needs first; the integration
# tests create real namespaces and need root (they say so and skip otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then scripts/install-deps.sh; fi
preset=${NSRIG_PRESET:-ci}
cmake --preset "$preset"
cmake --build --preset "$preset"
ctest --preset "$preset"
