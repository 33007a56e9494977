#!/usr/bin/env bash
# Quick start: install what building and running needs (not the test tools), build the
# server alone (not the tests or the benchmark tools), and start it with its defaults
# (port 3000, SQLite under ./data). Extra arguments go to ssechat.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh run
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSSECHAT_TESTS=OFF >/dev/null
cmake --build build --target ssechat -j"$(nproc)"
exec build/ssechat "$@"
