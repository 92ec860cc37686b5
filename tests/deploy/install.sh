#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install js-yaml (the independent YAML parser the deployment tests read the
# manifests with) into tests/deploy/node_modules when it is missing.
# Idempotent and quick when already installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

VERSION=4.1.0
have=$(node -p "try { require('./node_modules/js-yaml/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [[ $have == "$VERSION" ]]; then
	exit 0
fi
echo "installing js-yaml@$VERSION into $(pwd)/node_modules" >&2
bash ../npm-install.sh . --prefix . --no-save "js-yaml@$VERSION"
test -f node_modules/js-yaml/package.json || { echo "install.sh: js-yaml missing after npm install" >&2; exit 1; }
