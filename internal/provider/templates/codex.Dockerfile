ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# OpenAI Codex CLI. Built with the classic builder; per-bottle files
# (config.toml, prompt, skills, a placeholder login), the CA and secrets
# are provisioned at start, never baked in. Bump CODEX_VERSION
# deliberately: an unpinned install would change behaviour on rebuild.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git curl bash less procps \
      nodejs \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 1000 agent \
 && useradd --uid 1000 --gid 1000 --home-dir /home/agent --create-home --shell /bin/bash agent \
 && mkdir -p /workspace \
 && chown agent:agent /workspace

# The CAs the build trusts besides the image's (BOT_BOTTLE_BUILD_CA; by
# default the host's): npm behind a TLS-intercepting proxy needs them.
COPY build-ca.pem /usr/local/share/bot-bottle/build-ca.pem
# npm (and the Debian packages it pulls in) only for the install, in the
# same layer, so that the image keeps nodejs alone, which runs Codex's
# launcher. agent_provider.cli_version sets CODEX_VERSION.
ARG CODEX_VERSION=0.171.0
RUN apt-get update \
 && apt-get install -y --no-install-recommends npm \
 && if [ -s /usr/local/share/bot-bottle/build-ca.pem ]; then export NODE_EXTRA_CA_CERTS=/usr/local/share/bot-bottle/build-ca.pem; fi \
 && npm install -g --no-fund --no-audit --no-update-notifier "@openai/codex@${CODEX_VERSION}" \
 && codex --version \
 && npm cache clean --force \
 && apt-get purge -y --auto-remove npm \
 && rm -rf /var/lib/apt/lists/* /root/.npm

WORKDIR /workspace
# Last, so that the layers above are shared between templates.
LABEL io.bot-bottle.provider=codex
