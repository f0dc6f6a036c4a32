#!/usr/bin/env bash
# Installs nsrig's build and test dependencies from Debian 12 packages.
# Idempotent: packages already present are not fetched again.
set -euo pipefail

pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost-dev libboost-log-dev libboost-filesystem-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libnl-3-dev libnl-route-3-dev libcap-dev
  procps iproute2 util-linux iputils-ping netcat-openbsd
  nginx-light apache2 curl containernetworking-plugins
  uidmap
)
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (apt-get needs it), or install these yourself: ${pkgs[*]}" >&2
  exit 1
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages already installed"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The web servers are for the demo's instances only: keep their packages from
# starting them on the host (invoke-rc.d asks policy-rc.d; 101 = not allowed).
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
