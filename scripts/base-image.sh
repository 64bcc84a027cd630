#!/usr/bin/env bash
# Builds the local Debian base image the tests' agent images start from
# (no registry is needed): mmdebstrap's minbase bookworm imported into
# Docker. Does nothing when the image exists. Usage: base-image.sh [TAG]
set -euo pipefail
tag=${1:-bot-bottle-test-base:bookworm}
if docker image inspect "$tag" >/dev/null 2>&1; then
	echo "base image $tag: present"
	exit 0
fi
command -v mmdebstrap >/dev/null || { echo "base-image: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2; exit 1; }
echo "base image $tag: building with mmdebstrap"
mmdebstrap --quiet --variant=minbase bookworm - | docker import - "$tag" >/dev/null
echo "base image $tag: built"
