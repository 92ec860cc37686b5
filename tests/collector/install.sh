#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the test collector's one npm dependency (the upstream OTLP decoder)
# into tests/collector/node_modules when it is missing.  Idempotent and quick
# when already installed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

ROOT_JS=node_modules/@opentelemetry/otlp-transformer/build/src/generated/root.js
want=$(node -p "require('./package.json').dependencies['@opentelemetry/otlp-transformer']")
have=$(node -p "try { require('@opentelemetry/otlp-transformer/package.json').version } catch (e) { '' }" 2>/dev/null || true)
if [[ -f "$ROOT_JS" && "$have" == "$want" ]]; then
	exit 0
fi
echo "installing @opentelemetry/otlp-transformer@$want into $(pwd)/node_modules" >&2
bash ../npm-install.sh .
test -f "$ROOT_JS" || { echo "install.sh: $ROOT_JS missing after npm install" >&2; exit 1; }
