#!/usr/bin/env bash
# Runs every native fuzz target of the module, one at a time, each for
# $FUZZTIME (default 60s). Targets are found with `go test -list`, so a new
# Fuzz function is picked up without editing this script. Fails when there
# are none, so that a broken discovery cannot pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${FUZZTIME:-60s}

# run_target fuzzes one target. Go's fuzzer sometimes ends a time-bounded
# run with "context deadline exceeded" although no input failed (the
# deadline lands while a worker minimises an interesting input; no crasher
# is written). That run is retried once; a real failure writes its input
# under testdata/fuzz and fails at once.
run_target() {
	local pkg=$1 target=$2 out
	for attempt in 1 2; do
		# A short minimisation budget keeps that window small.
		if out=$("$go" test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg" 2>&1); then
			printf '%s\n' "$out" | tail -n 3
			return 0
		fi
		printf '%s\n' "$out"
		if [ "$attempt" -eq 1 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
			echo "fuzz: $target hit the fuzzer's deadline flake (no failing input); retrying once"
			continue
		fi
		return 1
	done
}

ran=0
# Only packages with tests can have fuzz targets.
for pkg in $("$go" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do
	targets=$("$go" test -list 'Fuzz.*' "$pkg" | grep -E '^Fuzz' || true)
	for target in $targets; do
		echo "== $pkg $target ($fuzztime)"
		run_target "$pkg" "$target"
		ran=$((ran + 1))
	done
done

if [ "$ran" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: ran $ran target(s) for $fuzztime each"
