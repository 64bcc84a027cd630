#!/usr/bin/env bash
# Runs the escape suites of every backend (shared and backend-specific) and
# writes docs/escape-matrix.md from that run. Needs what `make test` needs:
# root, dockerd and the local base image (scripts/base-image.sh).
#   scripts/escape-matrix.sh            # both backends
#   BACKENDS=native scripts/escape-matrix.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
backends=${BACKENDS:-docker native}
pkgs=()
for b in $backends; do pkgs+=("./internal/backend/$b/"); done
run=$(mktemp)
trap 'rm -f "$run"' EXIT
# The suites' failures are the matrix's OPEN cells: render them, then fail.
status=0
BOT_BOTTLE_REQUIRE_DOCKER=${BOT_BOTTLE_REQUIRE_DOCKER:-1} \
	"$GO" test -json -count=1 -timeout 30m -run '^Test(EscapeSuite|NativeEscapes|DockerEscapes)$' "${pkgs[@]}" >"$run" || status=$?
"$GO" run ./internal/testinfra/escape/matrix -o docs/escape-matrix.md -command "scripts/escape-matrix.sh" <"$run"
echo "wrote docs/escape-matrix.md"
exit "$status"
