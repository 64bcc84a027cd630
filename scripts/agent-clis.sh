#!/usr/bin/env bash
# Installs the agent CLIs the real-CLI tests run, from npm, at the versions
# they are verified with, and prints the folder of their executables. The
# install is kept per version pair under a folder outside every home and
# /tmp (native bottles see the host's /opt read-only), so a second run
# installs nothing.
#
#   BOT_BOTTLE_AGENT_CLIS=$(scripts/agent-clis.sh) go test ./internal/cli/ -run Claude
set -euo pipefail

CLAUDE_CODE_VERSION=${CLAUDE_CODE_VERSION:-2.1.197}
CODEX_VERSION=${CODEX_VERSION:-0.171.0}
root=${BOT_BOTTLE_AGENT_CLIS_ROOT:-/opt/bot-bottle-test/agent-clis}
dir="$root/claude-code-$CLAUDE_CODE_VERSION-codex-$CODEX_VERSION"

if [ -x "$dir/node_modules/.bin/claude" ] && [ -x "$dir/node_modules/.bin/codex" ]; then
	echo "$dir/node_modules/.bin"
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "agent-clis: installing Debian's nodejs and npm" >&2
	apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >&2
fi
echo "agent-clis: installing @anthropic-ai/claude-code@$CLAUDE_CODE_VERSION and @openai/codex@$CODEX_VERSION into $dir" >&2
tmp="$dir.partial"
rm -rf "$tmp"
mkdir -p "$tmp"
npm install --prefix "$tmp" --no-audit --no-fund --loglevel=error \
	"@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION" "@openai/codex@$CODEX_VERSION" >&2
"$tmp/node_modules/.bin/claude" --version >&2
"$tmp/node_modules/.bin/codex" --version >&2
chmod -R a+rX "$tmp"
rm -rf "$dir"
mv "$tmp" "$dir"
echo "$dir/node_modules/.bin"
