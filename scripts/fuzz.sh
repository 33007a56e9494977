#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 14 and runs each for $FUZZ_SECONDS (default 60)
# from its seed corpus in fuzz/corpus/. A crash, a failed check or a leak fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
CC=clang-14 CXX=clang++-14 scripts/build.sh build-fuzz -DSSECHAT_FUZZ=ON -DSSECHAT_TESTS=OFF
work=$(mktemp -d /tmp/ssechat-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
for t in request message sse h2 tls; do
  echo "== fuzz_$t for ${secs}s =="
  mkdir -p "$work/$t"
  # New inputs go to a scratch folder; the committed corpus stays as it is.
  ASAN_OPTIONS=detect_leaks=1 build-fuzz/fuzz_$t "$work/$t" "fuzz/corpus/$t" \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -print_final_stats=1 2>"$work/$t.log" ||
    { tail -50 "$work/$t.log"; echo "fuzz_$t FAILED"; exit 1; }
  grep -E "stat::number_of_executed_units|Done" "$work/$t.log" | tail -2
done
echo "fuzz: 5 passed, 0 failed"
