#!/usr/bin/env bash
# Installs the Debian 12 packages the engine needs to build, run and test.
# Idempotent: packages already present are not reinstalled. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  liblua5.4-dev lua5.4 lua-cjson-dev
  libh2o-dev libuv1-dev libssl-dev zlib1g-dev
  libcurl4-openssl-dev libhiredis-dev libpq-dev libsqlite3-dev sqlite3
  libcmocka-dev curl python3 python3-yaml
  nodejs
  prometheus   # for promtool: tests check /metrics with `promtool check metrics`
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#PKGS[@]} packages present"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
