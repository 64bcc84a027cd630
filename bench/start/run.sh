#!/usr/bin/env bash
# bench/start: in one run, the cost of a bottle on Docker against a bare
# `docker run --rm` of the same agent image (images cached):
#   - start: `bot-bottle start --yes -- true`, end to end (build check,
#     networks, sidecar, agent, teardown) vs `docker run --rm IMAGE true`
#   - teardown: `bot-bottle stop` of a detached bottle
#   - the idle RSS of a sidecar
#   - ten bottles started in parallel: all must come up
# Usage: bench/start/run.sh [ROUNDS]  (needs dockerd and the base image;
# writes a Markdown table to stdout). With BASELINE=/path/to/bot-bottle,
# an older build's start is timed in the same rounds, for a before/after
# ratio on the same daemon at the same moment.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-7}
make -s build >/dev/null
bin=$PWD/bin/bot-bottle
work=$(mktemp -d)
export BOT_BOTTLE_HOME=$work/home
# The home's network pool goes with it.
trap 'docker network ls -q --filter "label=io.bot-bottle.pool=$BOT_BOTTLE_HOME/state" | xargs -r docker network rm >/dev/null; rm -rf "$work"' EXIT
export BOT_BOTTLE_BASE_IMAGE=${BOT_BOTTLE_BASE_IMAGE:-bot-bottle-test-base:bookworm}
"$bin" init >/dev/null
mkdir -p "$work/ws" && cd "$work/ws"

ms() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# Warm: build the images once (and the baseline's sidecar image), and
# fill the network pool.
"$bin" start example --yes -- true >/dev/null 2>&1
if [ -n "${BASELINE:-}" ]; then "$BASELINE" start example --yes -- true >/dev/null 2>&1; fi
"$bin" start example --yes -- true >/dev/null 2>&1
image=$(docker image ls --format '{{.Repository}}:{{.Tag}}' | grep '^bot-bottle-agent-shell:' | head -1)

bb=() dr=() stop=() base=()
for _ in $(seq "$rounds"); do
	t=$(ms); docker run --rm "$image" true >/dev/null; dr+=($(( ($(ms) - t) / 1000000 )))
	t=$(ms); "$bin" start example --yes -- true >/dev/null 2>&1; bb+=($(( ($(ms) - t) / 1000000 )))
	if [ -n "${BASELINE:-}" ]; then
		t=$(ms); "$BASELINE" start example --yes -- true >/dev/null 2>&1; base+=($(( ($(ms) - t) / 1000000 )))
	fi
	slug=$("$bin" start example --yes --detach -- sleep 600 2>/dev/null)
	t=$(ms); "$bin" stop "$slug" >/dev/null 2>&1; stop+=($(( ($(ms) - t) / 1000000 )))
done
bb_med=$(printf '%s\n' "${bb[@]}" | median)
dr_med=$(printf '%s\n' "${dr[@]}" | median)
stop_med=$(printf '%s\n' "${stop[@]}" | median)

# Idle sidecar RSS (VmRSS of its process), with a route whose DLP loads
# the gitleaks rules and with none.
cat >"$BOT_BOTTLE_HOME/bottles/benchdlp.md" <<'EOM'
---
extends: shell
egress:
  routes:
    - host: api.bench.test
      auth: {scheme: Bearer, token_ref: BENCH_TOKEN}
---
EOM
sidecar_rss() { # bottles...
	local slug pid
	slug=$(BENCH_TOKEN=bench-token-value "$bin" start example "$@" --yes --detach -- sleep 600 2>/dev/null)
	sleep 3
	pid=$(docker inspect -f '{{.State.Pid}}' "bot-bottle-$slug-sidecar")
	awk '/^VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$pid/status"
	"$bin" stop "$slug" >/dev/null 2>&1
}
rss=$(sidecar_rss --bottle benchdlp)
rss_bare=$(sidecar_rss)

# Ten in parallel.
ok=0
pids=()
for i in $(seq 10); do
	("$bin" start example --yes -- true >"$work/par$i.log" 2>&1) & pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" && ok=$((ok + 1)); done

ratio=$(awk -v a="$bb_med" -v b="$dr_med" 'BEGIN {printf "%.2f", a / b}')
cat <<EOT
| measure | bot-bottle | docker run --rm | target | result |
|---|---|---|---|---|
| start, \`-- true\`, median of $rounds (ms) | $bb_med | $dr_med | ≤ 2.5x | ${ratio}x $(awk -v r="$ratio" 'BEGIN {print (r <= 2.5) ? "PASS" : "MISS"}') |
EOT
if [ -n "${BASELINE:-}" ]; then
	base_med=$(printf '%s\n' "${base[@]}" | median)
	echo "| start of the baseline build, same rounds (ms) | $base_med | $dr_med | | $(awk -v a="$base_med" -v b="$dr_med" 'BEGIN {printf "%.2f", a / b}')x |"
fi
cat <<EOT
| teardown of a detached bottle, median (ms) | $stop_med | | | |
| sidecar idle RSS, route with DLP | $rss | | ≤ 25 MiB | $(awk -v r="${rss% MiB}" 'BEGIN {print (r <= 25) ? "PASS" : "MISS"}') |
| sidecar idle RSS, no route | $rss_bare | | | |
| ten bottles in parallel | $ok/10 up | | 10/10 | $([ "$ok" = 10 ] && echo PASS || echo MISS) |
EOT
