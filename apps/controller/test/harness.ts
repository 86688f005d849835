import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { requestJson } from '@millrace/http';
import { BrokerHeartbeatResponseSchema, BrokerRegistrationResponseSchema, Headers } from '@millrace/protocol';
import type { Client } from 'undici';

/**
 * Just enough to run controller processes in a test: free loopback ports, spawning with captured
 * output, bounded waits, and stopping by PID. (The end-to-end suite grows the general harness.)
 */
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

export function spawnNode(name: string, script: string, args: readonly string[]): Proc {
  const child = spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
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

export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
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
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`, { cause: lastError });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface ControllerArgs {
  readonly id: number;
  readonly ports: readonly number[];
  readonly root: string;
  readonly clusterId: string;
  readonly adminToken: string;
  readonly clusterSecret: string;
  readonly initialize: boolean;
}

/** The command line of controller `id` of a quorum whose voter i listens on 127.0.0.1:ports[i-1]. */
export function controllerArgs(options: ControllerArgs): string[] {
  const voters = options.ports.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
  return [
    ...['--node-id', String(options.id), '--cluster-id', options.clusterId],
    ...['--listen', `127.0.0.1:${options.ports[options.id - 1]}`, '--voters', voters],
    ...['--data-dir', join(options.root, `c${options.id}`), '--admin-token', options.adminToken],
    ...['--cluster-secret', options.clusterSecret, '--log-level', 'warn'],
    ...(options.initialize ? ['--initialize'] : []),
  ];
}

/** A broker played by a test: registers with the controller behind `client` and returns its epoch. */
export async function registerFakeBroker(
  client: Client,
  options: { clusterId: string; clusterSecret: string; brokerId: number },
): Promise<number> {
  const { brokerEpoch } = await requestJson(client, {
    method: 'POST',
    path: '/v1/brokers/register',
    headers: { [Headers.clusterSecret]: options.clusterSecret },
    body: {
      clusterId: options.clusterId,
      brokerId: options.brokerId,
      incarnationId: `00000000-0000-4000-9000-${String(options.brokerId).padStart(12, '0')}`,
      endpoint: { host: '127.0.0.1', port: 20_000 + options.brokerId },
      rack: null,
    },
    responseSchema: BrokerRegistrationResponseSchema,
    timeoutMs: 5000,
  });
  return brokerEpoch;
}

/** One heartbeat of a test's broker, reporting `metadataOffset` as applied. */
export async function heartbeatFakeBroker(
  client: Client,
  options: { clusterSecret: string; brokerId: number; brokerEpoch: number | undefined; metadataOffset: number },
): Promise<void> {
  await requestJson(client, {
    method: 'POST',
    path: '/v1/brokers/heartbeat',
    headers: { [Headers.clusterSecret]: options.clusterSecret },
    body: {
      brokerId: options.brokerId,
      brokerEpoch: options.brokerEpoch,
      metadataOffset: options.metadataOffset,
      wantFence: false,
      wantShutDown: false,
    },
    responseSchema: BrokerHeartbeatResponseSchema,
    timeoutMs: 2000,
  });
}
