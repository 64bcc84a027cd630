#!/usr/bin/env bash
# bench/start/native.sh: in one run, a native bottle's start against the
# tools of the field running the same `true`:
#   - bot-bottle start --backend native --yes -- true (end to end: CLI,
#     manifest, policy, CA, sidecar process, namespaces, root, command,
#     teardown)
#   - bwrap --unshare-all with the host root read-only (bubblewrap)
#   - srt true (Anthropic's sandbox-runtime, npm @anthropic-ai/sandbox-runtime)
# Usage: bench/start/native.sh [ROUNDS]. Needs bwrap and srt on PATH
# (apt-get install bubblewrap socat ripgrep; npm install -g
# @anthropic-ai/sandbox-runtime). Writes a Markdown table to stdout. With
# BASELINE=/path/to/bot-bottle, an older build is timed in the same rounds.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-21}
for tool in bwrap srt; do
	command -v "$tool" >/dev/null || { echo "native.sh: $tool is not installed" >&2; exit 1; }
done
make -s build >/dev/null
bin=$PWD/bin/bot-bottle
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export BOT_BOTTLE_HOME=$work/home
"$bin" init >/dev/null
mkdir -p "$work/ws" && cd "$work/ws"

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
time_it() { # command... ; prints microseconds
	local t
	t=$(ms)
	"$@" >/dev/null 2>&1 || { echo "native.sh: $* failed" >&2; exit 1; }
	echo $(( ($(ms) - t) / 1000 ))
}

# Warm each once.
time_it "$bin" start example --backend native --yes -- true >/dev/null
time_it bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true >/dev/null
time_it srt true >/dev/null
if [ -n "${BASELINE:-}" ]; then time_it "$BASELINE" start example --backend native --yes -- true >/dev/null; fi

bb=() bw=() sr=() base=()
for _ in $(seq "$rounds"); do
	bb+=("$(time_it "$bin" start example --backend native --yes -- true)")
	if [ -n "${BASELINE:-}" ]; then base+=("$(time_it "$BASELINE" start example --backend native --yes -- true)"); fi
	bw+=("$(time_it bwrap --unshare-all --ro-bind / / --dev /dev --proc /proc true)")
	sr+=("$(time_it srt true)")
done
bb_med=$(printf '%s\n' "${bb[@]}" | median)
bw_med=$(printf '%s\n' "${bw[@]}" | median)
sr_med=$(printf '%s\n' "${sr[@]}" | median)
ms_of() { awk -v u="$1" 'BEGIN {printf "%.1f", u / 1000}'; }
speedup=$(awk -v a="$sr_med" -v b="$bb_med" 'BEGIN {printf "%.1f", a / b}')
cat <<EOT
| \`true\`, median of $rounds (ms) | bot-bottle native | bwrap --unshare-all | srt | target | result |
|---|---|---|---|---|---|
| end to end | $(ms_of "$bb_med") | $(ms_of "$bw_med") | $(ms_of "$sr_med") | ≤ 45 ms; ≥ 5x srt | $(awk -v m="$bb_med" 'BEGIN {print (m <= 45000) ? "PASS" : "MISS"}'), ${speedup}x srt $(awk -v s="$speedup" 'BEGIN {print (s >= 5) ? "PASS" : "MISS"}') |
EOT
if [ -n "${BASELINE:-}" ]; then
	echo "| end to end, the baseline build, same rounds | $(ms_of "$(printf '%s\n' "${base[@]}" | median)") | | | | |"
fi
