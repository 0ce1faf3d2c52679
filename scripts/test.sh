#!/usr/bin/env bash
# Runs the test tiers in order: typecheck, unit, integration (with security), lessons, end-to-end. The first tier that fails
# stops the run; a summary is printed either way, ending with the line "N passed, N failed" that
# adds up the tests of every tier that ran. npm test runs bootstrap.sh --for-tests first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

results=results/tests
rm -rf "$results"
mkdir -p "$results"

passed=0
failed=0
skipped=0
summary=()
status=0

# Reads a vitest or Playwright JSON report; prints "passed failed skipped", or nothing if unreadable.
count_tests() {
  node -e '
    const fs = require("node:fs");
    let report;
    try { report = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { process.exit(0); }
    if (report.stats && "expected" in report.stats) {
      const s = report.stats; // Playwright
      console.log(`${s.expected + s.flaky} ${s.unexpected} ${s.skipped}`);
    } else if ("numTotalTests" in report) {
      const r = report; // vitest (Jest-compatible)
      console.log(`${r.numPassedTests} ${r.numFailedTests} ${r.numPendingTests + r.numTodoTests}`);
    }
  ' "$1"
}

# run_tier NAME REPORT_FILE COMMAND...  (REPORT_FILE "-" for a tier without test counts)
run_tier() {
  local name=$1 report=$2
  shift 2
  printf '\n[berth] === %s: %s\n' "$name" "$*"
  local start code=0 counts=""
  start=$(date +%s)
  "$@" || code=$?
  local took=$(($(date +%s) - start))
  [ "$report" != - ] && [ -f "$report" ] && counts=$(count_tests "$report")
  local p=0 f=0 s=0
  [ -n "$counts" ] && read -r p f s <<<"$counts"
  # A tier that failed without reporting a failing test (a crash, a type error) still failed.
  if [ "$code" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  passed=$((passed + p))
  failed=$((failed + f))
  skipped=$((skipped + s))
  if [ "$code" -eq 0 ]; then
    summary+=("$(printf '  %-12s ok      %s' "$name" "${counts:+$p passed, $s skipped, }${took} s")")
  else
    summary+=("$(printf '  %-12s FAILED  %s' "$name" "${counts:+$p passed, $f failed, }exit code $code, ${took} s")")
    status=1
  fi
  return "$code"
}

tiers() {
  run_tier typecheck - npm run --silent typecheck || return
  run_tier unit "$results/unit.json" node_modules/.bin/vitest run --project unit \
    --reporter=default --reporter=json --outputFile.json="$results/unit.json" || return
  run_tier integration "$results/integration.json" node_modules/.bin/vitest run --project integration \
    --reporter=default --reporter=json --outputFile.json="$results/integration.json" || return
  run_tier lessons "$results/lessons.json" node_modules/.bin/vitest run --project lessons \
    --reporter=default --reporter=json --outputFile.json="$results/lessons.json" || return
  PLAYWRIGHT_JSON_OUTPUT_NAME="$PWD/$results/e2e.json" \
    run_tier e2e "$results/e2e.json" npm run --silent test:e2e -- --reporter=list,json || return
}

tiers || true
tiers_run=${#summary[@]}

printf '\n[berth] test summary (%d of 5 tiers run):\n' "$tiers_run"
printf '%s\n' "${summary[@]}"
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
exit "$status"
