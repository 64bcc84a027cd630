#!/usr/bin/env bash
# Runs every native fuzz target of the module, one at a time, for $FUZZTIME.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-60s}
found=0
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	ls "$dir"/*_test.go >/dev/null 2>&1 || continue
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		found=$((found + 1))
		echo "== $pkg $target ($fuzztime)"
		# A short minimisation budget: the default (60s) can outlast a short
		# -fuzztime, and the run then fails with "context deadline exceeded"
		# while minimising an interesting (not failing) input.
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg"
	done
done
if [ "$found" -eq 0 ]; then
	echo "no fuzz targets found" >&2
	exit 1
fi
echo "ran $found fuzz target(s)"
