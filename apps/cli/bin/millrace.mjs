#!/usr/bin/env node
// The `millrace` command. It lives outside dist/ so that a fresh install can link it before the
// first build; the command itself is the built CLI.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error('millrace: the CLI is not built yet; run pnpm build (or pnpm dev) in the repository first');
  process.exit(1);
}
await import(main.href);
