#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test twice: in the normal build and in the
# AddressSanitizer + UndefinedBehaviorSanitizer build. Ends with CTest's summary line.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
# The browser tests' one npm package (playwright-core), pinned by the lock file.
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
scripts/build.sh build -DSSECHAT_TESTS=ON
scripts/build.sh build-asan -DSSECHAT_TESTS=ON -DSSECHAT_SANITIZE=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== sanitizer build (ASan+UBSan) =="
(cd build-asan && ctest --output-on-failure -j2 --timeout 300)
echo "== fuzzing (libFuzzer, clang 14) =="
scripts/fuzz.sh
echo "== normal build =="
(cd build && ctest --output-on-failure -j2 --timeout 300)
