#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/run.sh - install what spanbpf needs (Debian packages, the test
# collector's npm package), configure, build, and run every test with ctest.
# Exits with ctest's status.
#
#   bash tests/run.sh                 # everything (run as root: the integration
#                                     # tests load BPF programs; as a user they skip)
#   bash tests/run.sh -L unit         # extra arguments go to ctest
#   SPANBPF_BUILD_DIR=b bash tests/run.sh
#   SPANBPF_SKIP_INSTALL=1 bash tests/run.sh   # no apt/npm: use what is installed
#   CI=true bash tests/run.sh         # also: unit tests under ASan/UBSan (build-asan)
#                                     # and every fuzz target for 30 s (build-fuzz)
#
# Works without sudo when run as root; as a user it uses sudo for apt only.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BUILD_DIR=${SPANBPF_BUILD_DIR:-build}

say() { printf '== %s\n' "$*"; }

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	fi
fi

# Debian packages.  A package counts as present when dpkg says it is installed;
# node and npm count as present when their commands are there, whatever
# installed them (a nodejs from elsewhere already ships npm and conflicts with
# Debian's npm package).
PACKAGES=(build-essential cmake pkg-config clang libclang-rt-14-dev llvm libbpf-dev bpftool
	libelf-dev libdw-dev libcapstone-dev zlib1g-dev libdeflate-dev libprotobuf-c-dev
	protobuf-c-compiler libcurl4-openssl-dev libyaml-dev libmicrohttpd-dev libcmocka-dev golang-go openjdk-17-jdk-headless
	nginx wrk apache2-utils curl nodejs npm python3 iproute2 openssl procps podman runc debootstrap
	docker-compose)

missing_packages() {
	local p
	for p in "${PACKAGES[@]}"; do
		case $p in
		nodejs) command -v node >/dev/null 2>&1 && continue ;;
		npm) command -v npm >/dev/null 2>&1 && continue ;;
		esac
		if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
			printf '%s\n' "$p"
		fi
	done
}

install_packages() {
	local missing
	mapfile -t missing < <(missing_packages)
	if ((${#missing[@]} == 0)); then
		say "Debian packages: all present"
		return
	fi
	say "Debian packages: installing ${missing[*]}"
	# Keep package scripts from starting services (the packaged nginx would take
	# port 80); the tests run their own nginx with their own config and ports.
	# Debian's standard switch for that is /usr/sbin/policy-rc.d exiting 101.
	local policy=/usr/sbin/policy-rc.d created_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | "${SUDO[@]}" tee "$policy" >/dev/null
		"${SUDO[@]}" chmod 755 "$policy"
		created_policy=1
	fi
	local rc=0
	"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q || rc=$?
	if ((rc == 0)); then
		"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
			"${missing[@]}" || rc=$?
	fi
	if ((created_policy)); then
		"${SUDO[@]}" rm -f "$policy"
	fi
	if ((rc != 0)); then
		echo "tests/run.sh: apt-get failed (status $rc)" >&2
		exit "$rc"
	fi
}

# If a packaged nginx service is running anyway (installed before, or started by
# hand), it only holds port 80; nothing here uses that port, so leave it be but say so.
note_system_nginx() {
	local pidfile=/run/nginx.pid
	if [[ -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		say "note: a system nginx (pid $(cat "$pidfile")) is running; the tests use their own nginx and ports"
	fi
}

if [[ ${SPANBPF_SKIP_INSTALL:-0} != 1 ]]; then
	install_packages
	say "test collector: npm package"
	bash tests/collector/install.sh
	say "deployment tests: js-yaml (npm)"
	bash tests/deploy/install.sh
	if [[ $(id -u) -eq 0 ]]; then
		say "container test: debian:bookworm-slim base image (debootstrap, once; cached by podman)"
		bash tests/deploy/base-image.sh
	fi
fi
note_system_nginx

say "configure ($BUILD_DIR)"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo

say "build"
cmake --build "$BUILD_DIR" -j "$(nproc)"

if [[ $(id -u) -ne 0 ]]; then
	say "note: not root: the integration tests will skip (run as root to run them)"
fi

say "test"
rc=0
ctest --test-dir "$BUILD_DIR" --output-on-failure "$@" || rc=$?

# CI also runs the unit tests once more with AddressSanitizer and UBSan (a second build
# directory, every source compiled with them); the integration tests run once, above.
if [[ ${CI:-} == true ]]; then
	ASAN_DIR=${SPANBPF_ASAN_BUILD_DIR:-build-asan}
	say "sanitizers: configure and build the unit tests ($ASAN_DIR, -fsanitize=address,undefined)"
	CC=clang cmake -S . -B "$ASAN_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANBPF_SANITIZE=ON
	cmake --build "$ASAN_DIR" -j "$(nproc)" --target unit_tests
	say "sanitizers: unit tests"
	ctest --test-dir "$ASAN_DIR" --output-on-failure -L unit || rc=1
	# Every libFuzzer target for a bounded smoke run (tests/fuzz/run.sh; 30 s each by
	# default); any finding fails CI.
	say "fuzz: every target for ${SPANBPF_FUZZ_SECONDS:-30}s (tests/fuzz/run.sh)"
	bash tests/fuzz/run.sh "${SPANBPF_FUZZ_SECONDS:-30}" || rc=1
fi
exit "$rc"
