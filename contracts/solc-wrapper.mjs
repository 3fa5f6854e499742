#!/usr/bin/env node
// Makes solc-js (the pinned `solc` npm package) answer like the native solc binary, so that
// Foundry's forge can compile offline: `forge test --offline --use contracts/solc-wrapper.mjs`.
// forge only ever calls `--version` and `--standard-json` (input on stdin, output on stdout).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, resolve } from 'node:path';

const require = createRequire(import.meta.url);
const solc = require('solc');
const args = process.argv.slice(2);

if (args.includes('--version')) {
  // forge parses the line that starts with `Version:`; drop solc-js's `.Emscripten.clang` suffix.
  const version = solc.version().replace(/\.Emscripten\.clang$/, '');
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${version}.Linux.g++\n`);
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('solc-wrapper: only --version and --standard-json are supported\n');
  process.exit(2);
}

// forge inlines every source it resolved; the callback covers anything it left as a path.
const baseIdx = args.indexOf('--base-path');
const base = baseIdx >= 0 && args[baseIdx + 1] ? args[baseIdx + 1] : process.cwd();
function findImports(path) {
  try {
    return { contents: readFileSync(isAbsolute(path) ? path : resolve(base, path), 'utf8') };
  } catch (err) {
    return { error: `solc-wrapper: cannot read ${path}: ${err.message}` };
  }
}

const input = readFileSync(0, 'utf8');
process.stdout.write(solc.compile(input, { import: findImports }));
