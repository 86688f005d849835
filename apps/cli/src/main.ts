#!/usr/bin/env node
import { run } from './cli.js';

// Ctrl-C asks the running command to stop (consume --follow ends cleanly); a second one exits.
const interrupt = new AbortController();
let interrupted = false;
process.on('SIGINT', () => {
  if (interrupted) process.exit(130);
  interrupted = true;
  interrupt.abort();
});
process.on('SIGPIPE', () => process.exit(0));
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  // `millrace consume … | head` closes the pipe: that is a normal end.
  if (error.code === 'EPIPE') process.exit(0);
});

const code = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  signal: interrupt.signal,
});
process.exitCode = code;
