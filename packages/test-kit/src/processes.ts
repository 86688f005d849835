import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * What tests that start Millrace processes share: free loopback ports, spawning with captured
 * output, bounded waits (poll a condition against a deadline, never a bare sleep), and stopping
 * every process by its PID.
 */

/** `count` distinct ports that were free on 127.0.0.1 a moment ago (all held at once, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exited: Promise<number | null>;
}

/** Starts `node script ...args`, keeping its recent output (stdout and stderr) for failure messages. */
export function spawnNode(
  name: string,
  script: string,
  args: readonly string[],
  env?: NodeJS.ProcessEnv,
  /** Node's own flags, before the script (a TypeScript loader, for one). */
  nodeArgs: readonly string[] = [],
): Proc {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString());
    if (output.length > 2000) output.splice(0, 1000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, output, exited };
}

/** kill -9, then wait (bounded) for the process to be gone. */
export async function killHard(proc: Proc): Promise<void> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGKILL');
  await Promise.race([proc.exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
}

/** SIGTERM, then kill -9 if it has not exited within `graceMs`. */
export async function stop(proc: Proc, graceMs = 5000): Promise<number | null> {
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return proc.child.exitCode;
  proc.child.kill('SIGTERM');
  const code = await Promise.race([
    proc.exited,
    new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs)),
  ]);
  if (code === 'timeout') {
    await killHard(proc);
    return null;
  }
  return code;
}

/**
 * Polls `check` until it gives a value (not undefined or false), failing after `timeoutMs` with the
 * last error. `what` may be a function, called for the failure message only (to say what was seen last).
 */
export async function waitFor<T>(
  what: string | (() => string),
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`, {
        cause: lastError,
      });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** SIGSTOP: the process freezes, holding its sockets, as a machine that stalls. */
export function pause(proc: Proc): void {
  proc.child.kill('SIGSTOP');
}

/** SIGCONT after `pause`. */
export function resume(proc: Proc): void {
  proc.child.kill('SIGCONT');
}

/** The last lines a process printed, for a failure message. */
export function tail(proc: Proc, lines = 40): string {
  return proc.output.join('').split('\n').slice(-lines).join('\n');
}

/**
 * What the processes logged at warn and above (pino's JSON, level 40 or more), and any line that is
 * not a log entry (a crash trace), counted by process kind and message, most frequent first:
 * `"25 × broker warn: replica fetch failed"`. A benchmark prints it so a run that went wrong
 * quietly shows it.
 */
export function warningsLogged(procs: ReadonlyMap<string, Proc>): string[] {
  const counts = new Map<string, number>();
  for (const [name, proc] of procs) {
    for (const line of proc.output.join('').split('\n')) {
      if (line.trim() === '') continue;
      let key = `${name}: ${line.slice(0, 120)}`;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string };
        if ((entry.level ?? 0) < 40) continue;
        key = `${name.replace(/-\d+$/, '')} ${entry.level === 40 ? 'warn' : 'error'}: ${entry.msg ?? ''}`;
      } catch {
        // Not a log line (a crash trace): counted as it is.
      }
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  }
  return [...counts].sort((a, b) => b[1] - a[1]).map(([key, count]) => `${count} × ${key}`);
}

/** A positive number from the environment variable `name`, or `fallback` when it is unset or empty. */
export function envNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name}=${text}: expected a positive number`);
  return value;
}
