ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# Claude Code. Built with the classic builder; per-bottle files (settings,
# prompt, skills), the CA and the placeholder token are provisioned at
# start, never baked in. Bump CLAUDE_CODE_VERSION deliberately: an
# unpinned install would change behaviour on rebuild.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git curl bash less procps \
      nodejs npm \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 1000 agent \
 && useradd --uid 1000 --gid 1000 --home-dir /home/agent --create-home --shell /bin/bash agent \
 && mkdir -p /workspace \
 && chown agent:agent /workspace

# The CAs the build trusts besides the image's (BOT_BOTTLE_BUILD_CA; by
# default the host's): npm behind a TLS-intercepting proxy needs them.
COPY build-ca.pem /usr/local/share/bot-bottle/build-ca.pem
ARG CLAUDE_CODE_VERSION=2.1.197
RUN if [ -s /usr/local/share/bot-bottle/build-ca.pem ]; then export NODE_EXTRA_CA_CERTS=/usr/local/share/bot-bottle/build-ca.pem; fi \
 && npm install -g --no-fund --no-audit --no-update-notifier "@anthropic-ai/claude-code@${CLAUDE_CODE_VERSION}" \
 && npm cache clean --force

WORKDIR /workspace
# Last, so that the layers above are shared between templates.
LABEL io.bot-bottle.provider=claude
