#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tests/fuzz/run.sh - build the libFuzzer targets (tests/fuzz/fuzz_*.c, clang with
# -fsanitize=fuzzer,address,undefined) and run each for a bounded time; exits
# non-zero on any finding (crash, sanitizer report, leak, timeout, CHECK).
#
#   bash tests/fuzz/run.sh            # every target, 30 s each
#   bash tests/fuzz/run.sh 600        # longer: 10 minutes each
#   bash tests/fuzz/run.sh 60 http    # only the targets named (fuzz_http)
#   SPANBPF_FUZZ_BUILD_DIR=bf bash tests/fuzz/run.sh
#
# Seeds are read from tests/fuzz/corpus/<name>/ and never written to: what a run
# discovers goes to $BUILD/fuzz-corpus/<name>/ (kept, so later runs start from
# it) and a finding to $BUILD/fuzz-findings/<name>-*. Keep a finding as a
# regression input in tests/fuzz/corpus/<name>/ once it is fixed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
SECONDS_EACH=${1:-30}
shift || true
BUILD=${SPANBPF_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${SPANBPF_JOBS:-$(nproc)}

say() { printf '== fuzz: %s\n' "$*"; }

if ! [[ $SECONDS_EACH =~ ^[0-9]+$ ]] || ((SECONDS_EACH < 1)); then
	echo "tests/fuzz/run.sh: seconds must be a positive integer, got '$SECONDS_EACH'" >&2
	exit 2
fi
CLANG=$(command -v clang || command -v clang-14 || true)
if [[ -z $CLANG ]]; then
	echo "tests/fuzz/run.sh: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi

say "configure and build ($BUILD)"
CC=$CLANG cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPANBPF_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j "$JOBS" --target fuzz

targets=()
if (($# > 0)); then
	for t in "$@"; do targets+=("$BUILD/fuzz/fuzz_${t#fuzz_}"); done
else
	targets=("$BUILD"/fuzz/fuzz_*)
fi

mkdir -p "$BUILD/fuzz-findings"
failed=0 passed=0
for bin in "${targets[@]}"; do
	name=$(basename "$bin")
	name=${name#fuzz_}
	seeds=tests/fuzz/corpus/$name
	work=$BUILD/fuzz-corpus/$name
	log=$BUILD/fuzz-findings/$name.log
	if [[ ! -x $bin ]]; then
		echo "tests/fuzz/run.sh: no target $bin" >&2
		failed=$((failed + 1))
		continue
	fi
	mkdir -p "$work"
	dirs=("$work")
	[[ -d $seeds ]] && dirs+=("$seeds")
	rc=0
	# -timeout: one input over 10 s is a finding; -rss_limit_mb: so is 2 GiB of memory.
	"$bin" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$BUILD/fuzz-findings/$name-" \
		"${dirs[@]}" >"$log" 2>&1 || rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	if ((rc != 0)); then
		say "$name: FINDING (status $rc) after ${execs:-?} executions; log $log"
		grep -E 'ERROR|CHECK failed|runtime error|SUMMARY|Test unit written' "$log" | head -20 || true
		failed=$((failed + 1))
	else
		say "$name: ${execs:-?} executions in ${SECONDS_EACH}s, no finding"
		passed=$((passed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
