#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# tests/npm-install.sh DIR [NPM-INSTALL-ARGS...] - `npm install` in DIR with the
# settings the tests use (no lock file, no audit), tried three times: the
# registry answers slowly now and then.  Shared by the tests' install scripts.
set -euo pipefail
dir=$1
shift
command -v npm >/dev/null 2>&1 || { echo "npm-install.sh: npm not found (apt-get install npm)" >&2; exit 1; }
cd "$dir"
for attempt in 1 2 3; do
	if timeout 300 npm install --no-package-lock --no-audit --no-fund --loglevel=error "$@"; then
		exit 0
	fi
	if [[ $attempt == 3 ]]; then
		echo "npm-install.sh: npm install failed in $dir" >&2
		exit 1
	fi
	sleep $((attempt * 5))
done
