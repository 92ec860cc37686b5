#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
//
// yaml2json.js FILE... - print {"FILE": [document, ...], ...} as JSON.
//
// The deployment tests read the manifests through js-yaml, a parser that has
// nothing to do with this project (the agent reads YAML with libyaml).
// Duplicate keys and syntax errors are errors (exit 1, with the position).
'use strict';
const fs = require('fs');
const path = require('path');
const yaml = require(path.join(__dirname, 'node_modules', 'js-yaml'));

const out = {};
let failed = false;
for (const file of process.argv.slice(2)) {
  try {
    out[file] = yaml.loadAll(fs.readFileSync(file, 'utf8'), null, { filename: file });
  } catch (e) {
    process.stderr.write(`${e.message}\n`);
    failed = true;
  }
}
if (failed) process.exit(1);
process.stdout.write(JSON.stringify(out) + '\n');
