ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}

# The shell bottle: a plain bash for any CLI, and the image the escape
# suite probes from (dig, nc, ping, curl, git, ssh). Built with the classic
# builder; per-bottle files, the CA and secrets are provisioned at start,
# never baked in.
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates git curl bash less procps \
      dnsutils netcat-openbsd iputils-ping openssh-client jq \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --gid 1000 agent \
 && useradd --uid 1000 --gid 1000 --home-dir /home/agent --create-home --shell /bin/bash agent \
 && mkdir -p /workspace \
 && chown agent:agent /workspace

WORKDIR /workspace
# Last, so that the layers above are shared between templates.
LABEL io.bot-bottle.provider=shell
