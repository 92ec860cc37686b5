#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# deploy/quickstart.sh - on a fresh Debian/Ubuntu machine: install what the
# agent needs, build it, and run it with the default configuration, printing
# each span on stdout (--console) and exporting to http://localhost:4318.
#
#   sudo bash deploy/quickstart.sh            # install, build, run
#   sudo bash deploy/quickstart.sh --no-run   # install and build only
#
# Extra arguments after -- go to spanbpf (e.g. -- --config my.yaml).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUN=1
ARGS=(--config config/spanbpf.yaml --console)
while (($#)); do
	case $1 in
	--no-run) RUN=0; shift ;;
	--) shift; ARGS=("$@"); break ;;
	*) echo "quickstart.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)

PACKAGES=(build-essential cmake pkg-config clang llvm libbpf-dev bpftool libelf-dev libdw-dev
	libcapstone-dev zlib1g-dev libdeflate-dev libprotobuf-c-dev protobuf-c-compiler libcurl4-openssl-dev
	libyaml-dev libmicrohttpd-dev ca-certificates)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "== installing ${missing[*]}"
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

echo "== building"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF
cmake --build build -j "$(nproc)"

((RUN)) || exit 0
echo "== running: build/spanbpf ${ARGS[*]}  (Ctrl-C to stop)"
exec "${SUDO[@]}" build/spanbpf "${ARGS[@]}"
