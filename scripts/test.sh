#!/usr/bin/env bash
# Builds and runs every test: cmocka unit tests, Lua script tests, and the integration suite that
# drives the real binary over HTTP on loopback. Then the unit tests again under ASan/UBSan.
# Installs missing Debian packages first (scripts/setup.sh), so it works on a fresh Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=$(nproc)

echo "== build (warnings are errors)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAG_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

echo "== tests"
(cd build && ctest --output-on-failure --timeout 900)

echo "== unit tests under ASan/UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DAG_SANITIZE=ON -DAG_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
   ctest --output-on-failure -R '^(unit|lua)_')
echo "== all tests passed"
