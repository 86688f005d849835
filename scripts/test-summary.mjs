#!/usr/bin/env node
// Sums the vitest JSON reports of every workspace package that has a `test` script and prints
// one closing line, `Tests: N passed, N failed, N skipped`. It exits non-zero when any test
// failed, when a package with a test script left no report, or when no test ran at all: a green
// run that tested nothing must not pass for one that tested everything.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
// Every workspace package, as pnpm-workspace.yaml lists them: `apps/*`, `packages/*`, and single folders.
const workspace = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
const entries = [...workspace.matchAll(/^ {2}- (\S+)$/gm)].map((match) => match[1]);
const dirs = entries.flatMap((entry) =>
  entry.endsWith('/*') ? readdirSync(join(root, entry.slice(0, -2))).map((d) => join(entry.slice(0, -2), d)) : [entry],
);

let passed = 0;
let failed = 0;
let skipped = 0;
const problems = [];
for (const dir of dirs) {
  const manifestPath = join(root, dir, 'package.json');
  if (!existsSync(manifestPath)) continue;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  if (!manifest.scripts?.test) continue;
  const reportPath = join(root, dir, 'test-results.json');
  if (!existsSync(reportPath)) {
    problems.push(`${manifest.name}: has a test script but wrote no test-results.json`);
    continue;
  }
  const report = JSON.parse(readFileSync(reportPath, 'utf8'));
  const p = report.numPassedTests ?? 0;
  const f = (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
  const s = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  console.log(
    `${manifest.name.padEnd(24)} ${String(p).padStart(5)} passed ${String(f).padStart(3)} failed ${String(s).padStart(3)} skipped`,
  );
  if (p === 0) problems.push(`${manifest.name}: ran no test`);
  passed += p;
  failed += f;
  skipped += s;
}
for (const problem of problems) console.error(`test-summary: ${problem}`);
console.log(`Tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(failed > 0 || passed === 0 || problems.length > 0 ? 1 : 0);
