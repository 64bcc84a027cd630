#!/usr/bin/env bash
# bench/gitgate: in one run, a push of 200 commits (about 5 MB of
# source-like text) into an empty upstream over SSH, straight with git and
# through the git gate (quarantine, gitleaks over every added line, branch
# and path policy, forward over SSH). Target: gate <= 2 x direct + 300 ms.
# Usage: bench/gitgate/run.sh [COUNT]  (writes a Markdown table to stdout)
set -euo pipefail
cd "$(dirname "$0")/../.."
count=${1:-5}
out=$(go test -run '^$' -bench '^BenchmarkPush$' -benchtime "${count}x" -count 1 ./internal/gitgate/)
ms() { awk -v name="BenchmarkPush/$1" '$1 ~ "^"name"(-[0-9]+)?$" {printf "%.0f", $3 / 1e6}' <<<"$out"; }
direct=$(ms direct)
gate=$(ms gate)
[ -n "$direct" ] && [ -n "$gate" ] || { echo "$out" >&2; exit 1; }
limit=$((2 * direct + 300))
verdict=PASS
[ "$gate" -le "$limit" ] || verdict=MISS
echo "| push of 200 commits, ~5 MB | ms (mean of $count) |"
echo "|---|---|"
echo "| git over SSH, direct | $direct |"
echo "| through the gate | $gate |"
echo "| target: gate <= 2 x direct + 300 ms = $limit | $verdict |"
