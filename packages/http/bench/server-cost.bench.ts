/**
 * The server-cost benchmark: the CPU a Millrace server (`createServer()`) spends per request on a
 * fastify route (`app.post`) against a hot route (`app.hotPost`, served from the HTTP/2 stream), and
 * on the hot route reached through fastify (`?via=fastify`, as a URL with a query string is).
 *
 * The server runs in a child process (bench/server-process.ts, with the package as built in dist/:
 * build first) that reports its CPU time over IPC (`process.cpuUsage()`, all its threads); each
 * measured window's CPU is net of the server's idle rate, measured over the second just before the
 * window and scaled to the window's length. The load comes from this process: one `node:http2`
 * client session (h2c, prior knowledge) with IN_FLIGHT POSTs in flight, each a body of random bytes
 * as `application/vnd.millrace.frame` (which Node's client sends in DATA frames of at most 16 KiB,
 * whatever frame size the server allows); every answer must be a 200 of about 120 bytes of JSON, and
 * every window checks how many requests went through Node's compatibility layer (all of a fastify
 * variant's, none of the hot route's). Variants alternate: each round runs every body size, and
 * within a size every variant, starting one variant later than the round before, so a neighbour's
 * load on the machine falls on all of them. The table sums the rounds.
 *
 * Then the round trip: ROUND_TRIPS requests of 1 KiB, one at a time (the next sent when the
 * answer is in), for every variant in every round; a second table gives their percentiles. It is
 * the floor under any latency a Millrace node adds: one exchange between two processes on this
 * machine, with nothing else to do.
 *
 * Prints a markdown table; the figures go to BENCHMARKS.md by hand, with the machine and the date.
 * Also prints the cores each window used (the server, this process, every other process), since
 * the machine may be shared.
 *
 *   cd packages/http && npx -y pnpm@10.34.8 bench      (tsx bench/server-cost.bench.ts)
 *
 * Environment (all optional):
 *   ROUNDS        rounds of every variant and size (default 2)
 *   IN_FLIGHT     requests in flight on the one connection (default 32)
 *   REQUESTS_1K   requests of each 1 KiB window (default 20,000)
 *   REQUESTS_64K  requests of each 64 KiB window (default 5,000)
 *   WARMUP_SHARE  warm-up of each variant and size before the first round, as a share of its
 *                 window (default 0.5)
 *   VARIANTS      fastify,hot,via-fastify (any subset; default all)
 *   SIZES         1k,64k (any subset; default both)
 *   ROUND_TRIPS   requests of each round-trip window, one at a time (default 3,000; 0 skips them)
 *   SERVER_NODE_FLAGS  Node's own flags for the server process, space-separated (e.g. "--cpu-prof
 *                 --cpu-prof-dir=/tmp/prof" for a profile of the server, written when it stops;
 *                 a profiler adds its own cost, so take figures without it)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { type ClientHttp2Session, connect, constants as http2Constants } from 'node:http2';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ContentType } from '@millrace/protocol';
import { machineBusySeconds } from '@millrace/test-kit';
import type { FromServer, ToServer } from './server-process.js';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const SERVER_SCRIPT = fileURLToPath(new URL('./server-process.ts', import.meta.url));

const ROUNDS = positiveInt('ROUNDS', 2);
const IN_FLIGHT = positiveInt('IN_FLIGHT', 32);
const ALL_SIZES = [
  { key: '1k', label: '1 KiB', bytes: 1024, requests: positiveInt('REQUESTS_1K', 20_000) },
  { key: '64k', label: '64 KiB', bytes: 64 * 1024, requests: positiveInt('REQUESTS_64K', 5_000) },
] as const;
const ALL_VARIANTS = [
  { key: 'fastify', name: 'fastify route (`app.post`)', path: '/bench/fastify', throughFastify: true },
  { key: 'hot', name: 'hot route (`app.hotPost`)', path: '/bench/hot', throughFastify: false },
  {
    key: 'via-fastify',
    name: 'hot route through fastify (`?via=fastify`)',
    path: '/bench/hot?via=fastify',
    throughFastify: true,
  },
] as const;
type Variant = (typeof ALL_VARIANTS)[number];
type Size = (typeof ALL_SIZES)[number];
const SIZES = chosen('SIZES', ALL_SIZES);
const VARIANTS = chosen('VARIANTS', ALL_VARIANTS);
const ROUND_TRIPS = Number(process.env.ROUND_TRIPS ?? 3000);
if (!Number.isSafeInteger(ROUND_TRIPS) || ROUND_TRIPS < 0)
  throw new Error(`ROUND_TRIPS must be 0 or more, not ${process.env.ROUND_TRIPS}`);
const SERVER_NODE_FLAGS = (process.env.SERVER_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');

/** Before each window: a pause for the last one's garbage and timers, then the idle measurement. */
const SETTLE_MS = 300;
const IDLE_MS = 1000;
/**
 * Warm-up of each variant and size before the first round, as a share of its window's requests.
 * fastify's path takes some 10,000 requests to reach its steady cost (64 KiB bodies on a fresh
 * server: about 220 µs a request over the first 15,000, 130 to 180 µs after), and a server that
 * runs for days is measured in that steady state.
 */
const WARMUP_SHARE = positiveNumber('WARMUP_SHARE', 0.5);
/** Bounds on every wait, so that a broken server fails the run instead of hanging it. */
const START_TIMEOUT_MS = 30_000;
const SAMPLE_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

function positiveInt(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${text}`);
  return value;
}

function positiveNumber(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, not ${text}`);
  return value;
}

/** The items whose keys the variable lists (all of them when it is unset), in their own order. */
function chosen<T extends { readonly key: string }>(name: string, items: readonly T[]): readonly T[] {
  const text = process.env[name];
  if (text === undefined || text === '') return items;
  const keys = new Set(text.split(',').map((key) => key.trim()));
  const unknown = [...keys].filter((key) => !items.some((item) => item.key === key));
  if (unknown.length > 0) {
    throw new Error(`${name}: unknown ${unknown.join(', ')}; choose from ${items.map((i) => i.key).join(', ')}`);
  }
  return items.filter((item) => keys.has(item.key));
}

/**
 * The server runs the built package (dist/); a dist/ older than src/ would measure other code than
 * the sources say, so the benchmark refuses to run on it.
 */
function assertBuilt(): void {
  const stale = readdirSync(new URL('../src/', import.meta.url))
    .filter((name) => name.endsWith('.ts') && !name.endsWith('.d.ts'))
    .filter((name) => {
      const built = new URL(`../dist/${name.replace(/\.ts$/, '.js')}`, import.meta.url);
      const source = new URL(`../src/${name}`, import.meta.url);
      try {
        return statSync(built).mtimeMs < statSync(source).mtimeMs;
      } catch {
        return true;
      }
    });
  if (stale.length > 0) {
    throw new Error(
      `packages/http/dist is missing or older than src/ (${stale.join(', ')}): build first ` +
        '(npx -y pnpm@10.34.8 build at the root, or npx tsc -p tsconfig.build.json here)',
    );
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface ServerSample {
  readonly cpuUs: number;
  readonly compatRequests: number;
  /** This process's clock when the sample arrived. */
  readonly atMs: number;
}

/** The server's child process and its IPC channel: one sample asked for at a time. */
class ServerProcess {
  readonly port: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;

  private constructor(child: ChildProcess, exited: Promise<void>, port: number) {
    this.#child = child;
    this.#exited = exited;
    this.port = port;
  }

  static async start(): Promise<ServerProcess> {
    const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, '--import', 'tsx', SERVER_SCRIPT], {
      cwd: PACKAGE_DIR,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const message = await nextMessage(child, 'listening', START_TIMEOUT_MS);
      return new ServerProcess(child, exited, message.port);
    } catch (error) {
      await stopChild(child, exited);
      throw error;
    }
  }

  async sample(): Promise<ServerSample> {
    const answer = nextMessage(this.#child, 'sample', SAMPLE_TIMEOUT_MS);
    this.#child.send({ type: 'sample' } satisfies ToServer);
    const { cpuUs, compatRequests } = await answer;
    return { cpuUs, compatRequests, atMs: performance.now() };
  }

  stop(): Promise<void> {
    return stopChild(this.#child, this.#exited);
  }
}

/** SIGTERM to the child's pid, then SIGKILL if it has not exited in time. */
async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

function nextMessage<T extends FromServer['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<FromServer, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: FromServer) => {
      if (message.type !== type) return;
      done();
      resolve(message as Extract<FromServer, { type: T }>);
    };
    const onExit = (code: number | null, signal: string | null) => {
      done();
      reject(new Error(`the server process exited (code ${code}, signal ${signal}) before its '${type}' message`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no '${type}' message from the server process within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = () => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** One POST on the session; resolves with the answer's status and body. */
function post(session: ClientHttp2Session, path: string, body: Buffer): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': ContentType.frame,
      'content-length': body.length,
    });
    let status = 0;
    let ended = false;
    const chunks: Buffer[] = [];
    stream.setTimeout(REQUEST_TIMEOUT_MS, () => {
      stream.close(http2Constants.NGHTTP2_CANCEL);
      reject(new Error(`POST ${path}: no answer within ${REQUEST_TIMEOUT_MS} ms`));
    });
    stream.on('response', (headers) => {
      status = Number(headers[':status']);
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => {
      ended = true;
      resolve({ status, body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) });
    });
    stream.on('error', reject);
    stream.on('close', () => {
      if (!ended) reject(new Error(`POST ${path}: the stream closed (code ${stream.rstCode}) without an answer`));
    });
    stream.end(body);
  });
}

/** `requests` POSTs of `body`, IN_FLIGHT at a time; any answer but a 200 fails the run. */
async function load(session: ClientHttp2Session, path: string, body: Buffer, requests: number): Promise<void> {
  let started = 0;
  const worker = async () => {
    while (started < requests) {
      started += 1;
      const answer = await post(session, path, body);
      if (answer.status !== 200) {
        throw new Error(`POST ${path}: ${answer.status} ${answer.body.toString('utf8').slice(0, 300)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, requests) }, worker));
}

function ownCpuUs(): number {
  const cpu = process.cpuUsage();
  return cpu.user + cpu.system;
}

interface Window {
  readonly requests: number;
  readonly bodyBytes: number;
  readonly wallMs: number;
  /** The server's CPU in the window, less its idle rate over the window's length. */
  readonly serverCpuUs: number;
  /** The server's idle rate just before, in cores. */
  readonly idleCores: number;
  readonly ownCpuUs: number;
  readonly otherCpuUs: number;
}

async function measure(
  server: ServerProcess,
  session: ClientHttp2Session,
  variant: Variant,
  size: Size,
  body: Buffer,
): Promise<Window> {
  await sleep(SETTLE_MS);
  const idleStart = await server.sample();
  await sleep(IDLE_MS);
  const idleEnd = await server.sample();
  const idleUsPerMs = (idleEnd.cpuUs - idleStart.cpuUs) / (idleEnd.atMs - idleStart.atMs);

  const machineBefore = machineBusySeconds();
  const ownBefore = ownCpuUs();
  const before = await server.sample();
  await load(session, variant.path, body, size.requests);
  const after = await server.sample();
  const ownAfter = ownCpuUs();
  const machineAfter = machineBusySeconds();

  const wallMs = after.atMs - before.atMs;
  const rawServerUs = after.cpuUs - before.cpuUs;
  const compat = after.compatRequests - before.compatRequests;
  const expected = variant.throughFastify ? size.requests : 0;
  if (compat !== expected) {
    throw new Error(
      `${variant.name}: ${compat} of ${size.requests} requests went through Node's compat layer, expected ${expected}`,
    );
  }
  return {
    requests: size.requests,
    bodyBytes: size.requests * size.bytes,
    wallMs,
    serverCpuUs: rawServerUs - idleUsPerMs * wallMs,
    idleCores: idleUsPerMs / 1000,
    ownCpuUs: ownAfter - ownBefore,
    otherCpuUs: Math.max(0, (machineAfter - machineBefore) * 1e6 - rawServerUs - (ownAfter - ownBefore)),
  };
}

/** Checks that a variant answers as the benchmark expects: a 200 whose JSON counts the body's bytes. */
async function check(session: ClientHttp2Session, variant: Variant, body: Buffer): Promise<number> {
  const answer = await post(session, variant.path, body);
  const text = answer.body.toString('utf8');
  if (answer.status !== 200) throw new Error(`${variant.name}: ${answer.status} ${text.slice(0, 300)}`);
  const parsed = JSON.parse(text) as { receivedBytes?: unknown };
  if (parsed.receivedBytes !== body.length) {
    throw new Error(`${variant.name}: the answer counts ${String(parsed.receivedBytes)} bytes, not ${body.length}`);
  }
  return answer.body.length;
}

const rotate = <T>(items: readonly T[], by: number): T[] => items.map((_, i) => items[(i + by) % items.length] as T);
const format = (value: number, digits = 0) =>
  value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const cores = (cpuUs: number, wallMs: number) => (cpuUs / 1000 / wallMs).toFixed(2);

async function main(): Promise<void> {
  assertBuilt();
  const loadAtStart = loadavg();
  const startedAt = new Date();
  const server = await ServerProcess.start();
  const session = connect(`http://127.0.0.1:${server.port}`, {
    settings: { enablePush: false, initialWindowSize: 8 * 1024 * 1024, maxFrameSize: 1 << 20 },
  });
  session.on('error', () => {}); // Failures reach the requests through their streams.
  const onSignal = () => {
    session.destroy();
    void server.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const windows = new Map<string, Window[]>();
  const roundTrips = new Map<Variant['key'], number[]>();
  const answerBytes = new Set<number>();
  try {
    const bodies = new Map(SIZES.map((size) => [size, randomBytes(size.bytes)] as const));
    for (const size of SIZES) {
      for (const variant of VARIANTS) {
        const body = bodies.get(size) as Buffer;
        answerBytes.add(await check(session, variant, body));
        await load(session, variant.path, body, Math.ceil(size.requests * WARMUP_SHARE));
      }
    }
    for (let round = 0; round < ROUNDS; round++) {
      for (const size of SIZES) {
        for (const variant of rotate(VARIANTS, round)) {
          const window = await measure(server, session, variant, size, bodies.get(size) as Buffer);
          const key = `${variant.name}|${size.label}`;
          windows.set(key, [...(windows.get(key) ?? []), window]);
          console.error(
            `round ${round + 1}, ${size.label}, ${variant.name}: ${format((window.requests * 1000) / window.wallMs)} requests/s, ` +
              `${format(window.serverCpuUs / window.requests, 1)} µs/request; cores: server ${cores(window.serverCpuUs, window.wallMs)} ` +
              `(idle ${window.idleCores.toFixed(3)}), load generator ${cores(window.ownCpuUs, window.wallMs)}, other ${cores(window.otherCpuUs, window.wallMs)}`,
          );
        }
      }
      if (ROUND_TRIPS > 0) {
        const body = randomBytes(1024);
        for (const variant of rotate(VARIANTS, round)) {
          const times = roundTrips.get(variant.key) ?? [];
          for (let i = 0; i < ROUND_TRIPS; i++) {
            const started = performance.now();
            const answer = await post(session, variant.path, body);
            if (answer.status !== 200) throw new Error(`${variant.path}: status ${answer.status}`);
            times.push(performance.now() - started);
          }
          roundTrips.set(variant.key, times);
        }
      }
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    session.close();
    session.destroy();
    await server.stop();
  }

  const loadAtEnd = loadavg();
  console.log(
    `\n${startedAt.toISOString()}: node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} CPUs; ` +
      `load average ${loadAtStart.map((l) => l.toFixed(2)).join(' / ')} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(' / ')} at the end`,
  );
  console.log(
    `${ROUNDS} rounds, ${IN_FLIGHT} requests in flight on one HTTP/2 connection, answers of ${[...answerBytes].join(' or ')} bytes\n`,
  );
  console.log(
    '| variant | body | requests/s | server CPU µs/request | server CPU ms/MB received | µs/request by round | cores: server / load generator / other |',
  );
  console.log('| --- | --: | --: | --: | --: | --: | --: |');
  const ratios: string[] = [];
  for (const size of SIZES) {
    const perRequest = new Map<Variant['key'], number>();
    for (const variant of VARIANTS) {
      const runs = windows.get(`${variant.name}|${size.label}`) ?? [];
      const sum = (pick: (w: Window) => number) => runs.reduce((total, w) => total + pick(w), 0);
      const requests = sum((w) => w.requests);
      const wallMs = sum((w) => w.wallMs);
      const serverUs = sum((w) => w.serverCpuUs);
      const megabytes = sum((w) => w.bodyBytes) / 1e6;
      const byRound = runs.map((w) => format(w.serverCpuUs / w.requests, 1)).join(', ');
      const coreShares = [serverUs, sum((w) => w.ownCpuUs), sum((w) => w.otherCpuUs)].map((us) => cores(us, wallMs));
      perRequest.set(variant.key, serverUs / requests);
      console.log(
        `| ${variant.name} | ${size.label} | ${format((requests * 1000) / wallMs)} | ${format(serverUs / requests, 1)} | ` +
          `${format(serverUs / 1000 / megabytes, 1)} | ${byRound} | ${coreShares.join(' / ')} |`,
      );
    }
    ratios.push(describeRatios(size, perRequest));
  }
  console.log(`\n${ratios.filter((line) => line !== '').join('\n')}`);
  if (roundTrips.size > 0) {
    console.log(`\nRound trip, 1 KiB, one request at a time (${ROUND_TRIPS} per variant per round):\n`);
    console.log('| variant | round trips | p50 ms | p90 ms | p99 ms | max ms |');
    console.log('| --- | --: | --: | --: | --: | --: |');
    for (const variant of VARIANTS) {
      const times = [...(roundTrips.get(variant.key) ?? [])].sort((a, b) => a - b);
      if (times.length === 0) continue;
      const at = (share: number) =>
        (times[Math.min(times.length - 1, Math.floor(share * times.length))] as number).toFixed(3);
      console.log(
        `| ${variant.name} | ${format(times.length)} | ${at(0.5)} | ${at(0.9)} | ${at(0.99)} | ${(times.at(-1) as number).toFixed(2)} |`,
      );
    }
  }
}

/** The hot route's CPU per request, and its fastify twin's, over the fastify route's (those measured). */
function describeRatios(size: Size, perRequest: ReadonlyMap<Variant['key'], number>): string {
  const fastifyRoute = perRequest.get('fastify');
  if (fastifyRoute === undefined) return '';
  const parts: string[] = [];
  const hot = perRequest.get('hot');
  if (hot !== undefined) parts.push(`the hot route costs the server ${(hot / fastifyRoute).toFixed(2)} ×`);
  const twin = perRequest.get('via-fastify');
  if (twin !== undefined) parts.push(`the hot route through fastify ${(twin / fastifyRoute).toFixed(2)} ×`);
  return parts.length === 0 ? '' : `${size.label}: ${parts.join(', ')} a fastify route's CPU per request.`;
}

await main();
