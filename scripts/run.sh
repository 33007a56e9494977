#!/usr/bin/env bash
# Quick start: install dependencies, build, and start ssechat with its defaults (port 3000,
# SQLite under ./data). Extra arguments go to ssechat.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh build -DSSECHAT_TESTS=OFF
exec build/ssechat "$@"
