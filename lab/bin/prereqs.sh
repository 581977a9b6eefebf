#!/usr/bin/env bash
# Installs the Debian packages the lab, the demo and the tests use that this machine lacks
# (one list, used by `npm run demo` and .ci/run), and nothing else. Root on Debian only;
# elsewhere it names what is missing and fails.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

# command -> package. buildah, skopeo, umoci and runc build and run the container image
# without Docker; nft, tcpdump, ndisc6 and busybox serve the network tests.
need=()
for pair in ip:iproute2 arping:iputils-arping ndisc6:ndisc6 curl:curl openssl:openssl tcpdump:tcpdump \
  gcc:gcc make:make python3:python3 nft:nftables buildah:buildah skopeo:skopeo umoci:umoci runc:runc \
  nsenter:util-linux busybox:busybox-static; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
((${#need[@]})) || exit 0
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "prereqs: missing Debian packages ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
  exit 1
fi
echo "== apt-get install ${need[*]}" >&2
apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null
