import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, killHard, type Proc, pause, resume, spawnNode, stop, tail, waitFor } from './processes.js';

export interface ProcessClusterOptions {
  /** `dist/main.js` of the controller and of the broker. */
  readonly controllerMain: string;
  readonly brokerMain: string;
  readonly controllers?: number;
  readonly brokers?: number;
  /** Extra flags for every broker / controller (e.g. `--log-flush-policy every-batch`). */
  readonly brokerFlags?: readonly string[];
  readonly controllerFlags?: readonly string[];
  /** Node's own flags for every broker process (e.g. `--cpu-prof`, to profile them). */
  readonly brokerNodeArgs?: readonly string[];
  /** Node's own flags for every controller process. */
  readonly controllerNodeArgs?: readonly string[];
  /** Log level of every process. Default warn. */
  readonly logLevel?: string;
}

export type NodeKind = 'controller' | 'broker';

/**
 * A cluster of real controller and broker processes on free loopback ports, with their data in a
 * temp folder: start, kill -9, SIGTERM, SIGSTOP/SIGCONT and restart any node; `close()` stops every
 * process it started by its PID and removes the folder.
 */
export async function startProcessCluster(options: ProcessClusterOptions) {
  const controllerCount = options.controllers ?? 3;
  const brokerCount = options.brokers ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'millrace-cluster-'));
  const ports = await freePorts(controllerCount + brokerCount);
  const controllerPorts = ports.slice(0, controllerCount);
  const brokerPorts = ports.slice(controllerCount);
  const clusterId = 'test-cluster';
  const clusterSecret = 'test-cluster-secret-0123456789';
  const adminToken = 'test-admin-token-0123456789';
  const logLevel = options.logLevel ?? 'warn';
  const voters = controllerPorts.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
  const controllerList = controllerPorts.map((port) => `127.0.0.1:${port}`).join(',');
  const procs = new Map<string, Proc>();
  const started = new Set<number>();

  const controllerArgs = (id: number) => [
    ...['--node-id', String(id), '--cluster-id', clusterId],
    ...['--listen', `127.0.0.1:${controllerPorts[id - 1]}`, '--voters', voters],
    ...['--data-dir', join(root, `controller-${id}`), '--admin-token', adminToken],
    ...['--cluster-secret', clusterSecret, '--log-level', logLevel],
    ...(started.has(id) ? [] : ['--initialize']),
    ...(options.controllerFlags ?? []),
  ];
  const brokerArgs = (id: number) => [
    ...['--broker-id', String(id), '--cluster-id', clusterId],
    ...['--listen', `127.0.0.1:${brokerPorts[id - 1]}`, '--controllers', controllerList],
    ...['--data-dir', join(root, `broker-${id}`), '--cluster-secret', clusterSecret],
    ...['--log-level', logLevel],
    ...(options.brokerFlags ?? []),
  ];

  const cluster = {
    root,
    clusterId,
    clusterSecret,
    adminToken,
    controllerPorts,
    brokerPorts,
    /** `host:port` of every broker (added ones too), as a client's bootstrap list. */
    get bootstrap(): string[] {
      return brokerPorts.map((port) => `127.0.0.1:${port}`);
    },
    procs,
    origin(kind: NodeKind, id: number): string {
      const port = (kind === 'controller' ? controllerPorts : brokerPorts)[id - 1];
      return `http://127.0.0.1:${port}`;
    },
    startController(id: number): Proc {
      const proc = spawnNode(
        `controller-${id}`,
        options.controllerMain,
        controllerArgs(id),
        undefined,
        options.controllerNodeArgs,
      );
      started.add(id);
      procs.set(`controller-${id}`, proc);
      return proc;
    },
    startBroker(id: number): Proc {
      const proc = spawnNode(`broker-${id}`, options.brokerMain, brokerArgs(id), undefined, options.brokerNodeArgs);
      procs.set(`broker-${id}`, proc);
      return proc;
    },
    /** Starts a broker that was not in the cluster, with the next id, on a new free port. */
    async addBroker(): Promise<{ id: number; proc: Proc }> {
      const [port] = await freePorts(1);
      brokerPorts.push(port as number);
      const id = brokerPorts.length;
      return { id, proc: cluster.startBroker(id) };
    },
    /** Whether the node's process is running (started and not exited). */
    running(kind: NodeKind, id: number): boolean {
      const proc = procs.get(`${kind}-${id}`);
      return proc !== undefined && proc.child.exitCode === null && proc.child.signalCode === null;
    },
    proc(kind: NodeKind, id: number): Proc {
      const proc = procs.get(`${kind}-${id}`);
      if (proc === undefined) throw new Error(`${kind} ${id} was never started`);
      return proc;
    },
    /** kill -9. */
    async kill(kind: NodeKind, id: number): Promise<void> {
      await killHard(cluster.proc(kind, id));
    },
    /** SIGTERM (a broker's controlled shutdown), then kill -9 after `graceMs`. Returns the exit code. */
    async terminate(kind: NodeKind, id: number, graceMs = 20_000): Promise<number | null> {
      return stop(cluster.proc(kind, id), graceMs);
    },
    pause(kind: NodeKind, id: number): void {
      pause(cluster.proc(kind, id));
    },
    resume(kind: NodeKind, id: number): void {
      resume(cluster.proc(kind, id));
    },
    /** GET `path` from a node, as JSON (h2c). */
    getJson(kind: NodeKind, id: number, path: string, timeoutMs = 2000): Promise<{ status: number; body: unknown }> {
      return getJson(cluster.origin(kind, id), path, timeoutMs);
    },
    /** POST `body` as JSON to a node's `path`, its answer as JSON (h2c). */
    postJson(
      kind: NodeKind,
      id: number,
      path: string,
      body: unknown,
      timeoutMs = 2000,
    ): Promise<{ status: number; body: unknown }> {
      return postJson(cluster.origin(kind, id), path, body, timeoutMs);
    },
    /** Waits until every broker running reports `/health` ok (registered, unfenced, caught up). */
    async waitReady(timeoutMs = 30_000): Promise<void> {
      for (const [name, proc] of procs) {
        if (!name.startsWith('broker-') || proc.child.exitCode !== null || proc.child.signalCode !== null) continue;
        const id = Number(name.slice('broker-'.length));
        await waitFor(
          `${name} healthy\n${tail(proc)}`,
          async () =>
            (await cluster.getJson('broker', id, '/health')).status === 200 &&
            ((await cluster.getJson('broker', id, '/health')).body as { status?: string }).status === 'ok',
          timeoutMs,
        );
      }
    },
    /**
     * Stops the brokers, then the controllers, as `pnpm dev` does: a broker's controlled shutdown
     * needs the controllers, and a broker that exits on its own (not killed at the end of the
     * grace) also writes what Node was asked to write at exit, such as a `--cpu-prof` profile.
     */
    async close(): Promise<void> {
      const stopAll = (kind: NodeKind) =>
        Promise.all(
          [...procs].map(async ([name, proc]) => {
            if (!name.startsWith(`${kind}-`)) return;
            // A SIGSTOPped process would sit out SIGTERM's grace; SIGCONT is harmless to the others.
            if (proc.child.exitCode === null && proc.child.signalCode === null) resume(proc);
            await stop(proc, 5000).catch(() => undefined);
          }),
        );
      await stopAll('broker');
      await stopAll('controller');
      rmSync(root, { recursive: true, force: true });
    },
  };
  for (let id = 1; id <= controllerCount; id++) cluster.startController(id);
  for (let id = 1; id <= brokerCount; id++) cluster.startBroker(id);
  return cluster;
}

export type ProcessCluster = Awaited<ReturnType<typeof startProcessCluster>>;

/** One GET over h2c with `node:http2`, its body parsed as JSON when it is. */
export function getJson(origin: string, path: string, timeoutMs = 2000): Promise<{ status: number; body: unknown }> {
  return exchange(origin, 'GET', path, undefined, timeoutMs);
}

/** One POST of `body` as JSON over h2c with `node:http2`, the answer parsed as JSON when it is. */
export function postJson(
  origin: string,
  path: string,
  body: unknown,
  timeoutMs = 2000,
): Promise<{ status: number; body: unknown }> {
  return exchange(origin, 'POST', path, JSON.stringify(body), timeoutMs);
}

function exchange(
  origin: string,
  method: 'GET' | 'POST',
  path: string,
  payload: string | undefined,
  timeoutMs: number,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const session = connect(origin);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`${method} ${origin}${path}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    session.on('error', (error) => {
      clearTimeout(timer);
      session.destroy();
      reject(error);
    });
    const stream = session.request({
      ':method': method,
      ':path': path,
      ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
    });
    let status = 0;
    const chunks: Buffer[] = [];
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON (metrics): the text as it is.
      }
      resolve({ status, body });
    });
    stream.on('error', (error) => {
      clearTimeout(timer);
      session.destroy();
      reject(error);
    });
    stream.end(payload);
  });
}
