#!/usr/bin/env bash
# Runs every native fuzz target of the module, one at a time, each for
# $FUZZTIME (default 60s). Targets are found with `go test -list`, so a new
# Fuzz function is picked up without editing this script. Fails when there
# are none, so that a broken discovery cannot pass silently.
set -euo pipefail
cd "$(dirname "$0")/.."
go=${GO:-go}
fuzztime=${FUZZTIME:-60s}

ran=0
# Only packages with tests can have fuzz targets.
for pkg in $("$go" list -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./...); do
	targets=$("$go" test -list 'Fuzz.*' "$pkg" | grep -E '^Fuzz' || true)
	for target in $targets; do
		echo "== $pkg $target ($fuzztime)"
		# A short minimisation budget: the default (60s) can outlast a short
		# -fuzztime, and the run then fails with "context deadline exceeded"
		# while minimising an interesting (not failing) input.
		"$go" test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg"
		ran=$((ran + 1))
	done
done

if [ "$ran" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: ran $ran target(s) for $fuzztime each"
