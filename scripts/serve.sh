#!/usr/bin/env bash
# Sets up (Debian packages), builds, and starts `agency serve` on 127.0.0.1:8080 with the embedded
# SQLite store (var/agency.db) and the scripts under domains/. Any AGENCY_* variable set in the
# environment is honoured; extra arguments go to `agency` (e.g. `scripts/serve.sh --config agency.env serve`).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
if [ "$#" -eq 0 ]; then set -- serve; fi
exec ./build/agency "$@"
