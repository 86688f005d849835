#!/usr/bin/env node
// `pnpm dev`: the local cluster. Three controllers and three brokers as separate processes on fixed
// loopback ports, their data under `.millrace/` (kept across restarts; `--fresh` starts empty), each
// process's log lines prefixed with its name, one banner when the cluster is ready, and Ctrl-C
// stopping everything in order: brokers first (a controlled shutdown moves their leaderships
// away), then the controllers. docs/operations.md describes it.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const CONTROLLER_MAIN = join(ROOT, 'apps/controller/dist/main.js');
const BROKER_MAIN = join(ROOT, 'apps/broker/dist/main.js');
const CLI_INDEX = join(ROOT, 'apps/cli/dist/index.js');
const CLUSTER_ID = 'millrace-dev';
// The dev cluster listens on loopback only; its secret and admin token are documented, not secret.
// The token is the CLI's (the CLI uses it when it talks to the dev cluster's addresses).
const CLUSTER_SECRET = 'millrace-dev-cluster-secret';
let ADMIN_TOKEN = '';
const READY_TIMEOUT_MS = 60_000;
const BROKER_STOP_GRACE_MS = 15_000;
const CONTROLLER_STOP_GRACE_MS = 5_000;
const SIGNAL_ECHO_MS = 2_000;

const USAGE = `Usage: pnpm dev [--fresh] [--port-base N] [--data-dir PATH] [--log-level LEVEL]

Starts three controllers and three brokers on 127.0.0.1 and keeps them running until Ctrl-C.
  --fresh             delete the data folder first (start with an empty cluster)
  --port-base N       brokers on N, N+1, N+2; controllers on N+3, N+4, N+5 (default 9092)
  --data-dir PATH     where the nodes keep their data (default .millrace in the repository)
  --log-level LEVEL   the nodes' log level: fatal, error, warn, info (default), debug, trace
  --help              this text`;

/** Reads the command line; a mistake is one line and exit code 2. */
function readOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        fresh: { type: 'boolean', default: false },
        'port-base': { type: 'string', default: '9092' },
        'data-dir': { type: 'string', default: join(ROOT, '.millrace') },
        'log-level': { type: 'string', default: 'info' },
        help: { type: 'boolean', default: false },
      },
      strict: true,
    });
  } catch (error) {
    fail(`${error.message}\n\n${USAGE}`, 2);
  }
  const { values } = parsed;
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const portBase = Number(values['port-base']);
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65_530)
    fail(`--port-base must be an integer from 1024 to 65530, got "${values['port-base']}"`, 2);
  const levels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];
  if (!levels.includes(values['log-level']))
    fail(`--log-level must be one of ${levels.join(', ')}, got "${values['log-level']}"`, 2);
  return { fresh: values.fresh, portBase, dataDir: resolve(values['data-dir']), logLevel: values['log-level'] };
}

function fail(message, code = 1) {
  console.error(`pnpm dev: ${message}`);
  process.exit(code);
}

/** The six nodes, their ports and their command lines. */
function plan({ portBase, dataDir, logLevel }) {
  const brokerPorts = [0, 1, 2].map((i) => portBase + i);
  const controllerPorts = [3, 4, 5].map((i) => portBase + i);
  const voters = controllerPorts.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
  const controllerList = controllerPorts.map((port) => `127.0.0.1:${port}`).join(',');
  const controllers = controllerPorts.map((port, i) => {
    const id = i + 1;
    const dir = join(dataDir, `controller-${id}`);
    return {
      name: `controller-${id}`,
      port,
      main: CONTROLLER_MAIN,
      // Read when the node starts: a voter's store is created only on the first start of its folder.
      args: () => [
        ...['--node-id', String(id), '--cluster-id', CLUSTER_ID, '--listen', `127.0.0.1:${port}`],
        ...['--voters', voters, '--data-dir', dir, '--log-level', logLevel],
        ...(existsSync(dir) ? [] : ['--initialize']),
      ],
      env: { MILLRACE_ADMIN_TOKEN: ADMIN_TOKEN, MILLRACE_CLUSTER_SECRET: CLUSTER_SECRET },
    };
  });
  const brokers = brokerPorts.map((port, i) => {
    const id = i + 1;
    return {
      name: `broker-${id}`,
      port,
      main: BROKER_MAIN,
      args: () => [
        ...['--broker-id', String(id), '--cluster-id', CLUSTER_ID, '--listen', `127.0.0.1:${port}`],
        ...['--controllers', controllerList, '--data-dir', join(dataDir, `broker-${id}`), '--log-level', logLevel],
      ],
      env: { MILLRACE_CLUSTER_SECRET: CLUSTER_SECRET },
    };
  });
  return { controllers, brokers, brokerPorts, controllerPorts };
}

/** Resolves to the node's name when its port is taken, or to null when it is free. */
function portTaken(node) {
  return new Promise((done) => {
    const server = createServer();
    server.once('error', (error) => done(error.code === 'EADDRINUSE' || error.code === 'EACCES' ? node : null));
    server.listen(node.port, '127.0.0.1', () => server.close(() => done(null)));
  });
}

// Log lines: pino's JSON, shown as `name | time LEVEL message {fields}`; other lines as they are.
const COLOURS = process.stdout.isTTY ? ['\x1b[36m', '\x1b[35m', '\x1b[34m', '\x1b[32m', '\x1b[33m', '\x1b[94m'] : [];
const RESET = process.stdout.isTTY ? '\x1b[0m' : '';
const LEVELS = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO ', 40: 'WARN ', 50: 'ERROR', 60: 'FATAL' };
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'node', 'msg']);

function formatLine(line) {
  if (!line.startsWith('{')) return line;
  try {
    const entry = JSON.parse(line);
    const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
    const fields = Object.fromEntries(Object.entries(entry).filter(([key]) => !OMITTED.has(key)));
    // An error's message is what a person reads here; its stack stays in the nodes' own logs.
    if (typeof fields.err === 'object' && fields.err !== null) fields.err = fields.err.message;
    const rest = Object.keys(fields).length === 0 ? '' : ` ${JSON.stringify(fields)}`;
    return `${time} ${LEVELS[entry.level] ?? entry.level} ${entry.msg ?? ''}${rest}`;
  } catch {
    return line;
  }
}

/** Writes each complete line of a child's stream, prefixed with its name. */
function prefixLines(stream, prefix, out) {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) if (line !== '') out.write(`${prefix}${formatLine(line)}\n`);
  });
  stream.on('end', () => {
    if (pending !== '') out.write(`${prefix}${formatLine(pending)}\n`);
  });
}

/** GET `path` over h2c; `null` when the node does not answer within `timeoutMs`. */
function getJson(port, path, timeoutMs = 1000) {
  return new Promise((done) => {
    const session = connect(`http://127.0.0.1:${port}`);
    const finish = (value) => {
      clearTimeout(timer);
      session.destroy();
      done(value);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    session.on('error', () => finish(null));
    const stream = session.request({ ':method': 'GET', ':path': path });
    const chunks = [];
    stream.on('data', (chunk) => chunks.push(chunk));
    stream.on('end', () => {
      try {
        finish(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        finish(null);
      }
    });
    stream.on('error', () => finish(null));
    stream.end();
  });
}

async function main() {
  const options = readOptions(process.argv.slice(2));
  for (const file of [CONTROLLER_MAIN, BROKER_MAIN, CLI_INDEX])
    if (!existsSync(file)) fail(`${file} is missing: build first (pnpm build), or start with pnpm dev`);
  ({ DEV_ADMIN_TOKEN: ADMIN_TOKEN } = await import(pathToFileURL(CLI_INDEX).href));
  const nodes = plan(options);
  const all = [...nodes.controllers, ...nodes.brokers];

  const pidFile = join(options.dataDir, 'dev-pids.json');
  await stopLeftovers(pidFile);
  const taken = (await Promise.all(all.map(portTaken))).filter((node) => node !== null);
  if (taken.length > 0)
    fail(
      taken.map((node) => `port ${node.port} for ${node.name} is taken by another program`).join('\n') +
        `\nStop what holds ${taken.length === 1 ? 'it' : 'them'} (lsof -i :${taken[0].port} shows it), or pick other ports with --port-base.`,
    );
  if (options.fresh) rmSync(options.dataDir, { recursive: true, force: true });
  mkdirSync(options.dataDir, { recursive: true });

  const width = Math.max(...all.map((node) => node.name.length));
  const children = new Map();
  let stopping = false;
  let ready = false;
  const start = (node, index) => {
    const colour = COLOURS[index % COLOURS.length] ?? '';
    const prefix = `${colour}${node.name.padEnd(width)} |${RESET} `;
    // Each node in its own process group: Ctrl-C reaches this script only, which stops the nodes
    // in order (brokers, then controllers) instead of all at once.
    const child = spawn(process.execPath, [node.main, ...node.args()], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...node.env },
      detached: true,
    });
    prefixLines(child.stdout, prefix, process.stdout);
    prefixLines(child.stderr, prefix, process.stderr);
    child.on('exit', (code, signal) => {
      children.delete(node.name);
      writePids(pidFile, children);
      if (stopping) return;
      console.error(`${prefix}exited (${signal ?? `code ${code}`})`);
      if (!ready) void shutdown(`${node.name} stopped while the cluster was starting`, 1);
    });
    children.set(node.name, child);
  };

  const shutdown = async (reason, code = 0) => {
    if (stopping) return;
    stopping = true;
    console.error(`\npnpm dev: ${reason}; stopping the brokers (controlled shutdown), then the controllers`);
    await stopAll(nodes.brokers, children, BROKER_STOP_GRACE_MS);
    await stopAll(nodes.controllers, children, CONTROLLER_STOP_GRACE_MS);
    rmSync(pidFile, { force: true });
    console.error('pnpm dev: every node stopped');
    process.exit(code);
  };
  // One Ctrl-C reaches this script several times: from the terminal (the whole foreground group:
  // pnpm, the shell, this script) and again from pnpm passing it on. Signals within a moment of
  // the first are that same Ctrl-C; only a later one means "now".
  let firstSignalAt;
  const onSignal = (signal) => {
    const now = Date.now();
    if (firstSignalAt === undefined) {
      firstSignalAt = now;
      void shutdown(`${signal}`, 0);
      return;
    }
    if (now - firstSignalAt < SIGNAL_ECHO_MS) return;
    console.error(`pnpm dev: ${signal} again: killing every node now`);
    for (const child of children.values()) killGroup(child, 'SIGKILL');
    process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  // Whatever happens to this script, it leaves nothing running.
  process.on('exit', () => {
    for (const child of children.values()) killGroup(child, 'SIGKILL');
  });

  // Controllers first: brokers that start before any controller listens only log refusals.
  nodes.controllers.forEach(start);
  writePids(pidFile, children);
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (
    !stopping &&
    (await Promise.all(nodes.controllerPorts.map((port) => getJson(port, '/health')))).includes(null)
  ) {
    if (Date.now() > deadline) return shutdown(`the controllers did not answer within ${READY_TIMEOUT_MS / 1000} s`, 1);
    await sleep(100);
  }
  for (const [i, node] of nodes.brokers.entries()) start(node, i + nodes.controllers.length);
  writePids(pidFile, children);
  while (!stopping && !(await clusterReady(nodes))) {
    if (Date.now() > deadline) return shutdown(`the cluster was not ready within ${READY_TIMEOUT_MS / 1000} s`, 1);
    await sleep(200);
  }
  if (stopping) return;
  ready = true;
  console.log(banner(nodes, options));
}

/** Every controller agrees on an active one and every broker serves (registered, unfenced, caught up). */
async function clusterReady(nodes) {
  const controllers = await Promise.all(nodes.controllerPorts.map((port) => getJson(port, '/health')));
  const brokers = await Promise.all(nodes.brokerPorts.map((port) => getJson(port, '/health')));
  return (
    controllers.every((health) => health?.status === 'ok' && health.activeControllerId !== null) &&
    brokers.every((health) => health?.status === 'ok')
  );
}

function banner(nodes, options) {
  const bootstrap = nodes.brokerPorts.map((port) => `127.0.0.1:${port}`).join(',');
  const defaults = options.portBase === 9092;
  const cli = defaults ? 'npx millrace' : `MILLRACE_BOOTSTRAP=${bootstrap} MILLRACE_TOKEN=${ADMIN_TOKEN} npx millrace`;
  const rule = '─'.repeat(78);
  return [
    '',
    rule,
    ' Millrace local cluster is ready: 3 controllers, 3 brokers',
    '',
    `   bootstrap     ${bootstrap}`,
    `   admin API     http://127.0.0.1:${nodes.brokerPorts[0]}/v1 (any broker; relayed to the active controller)`,
    `   controllers   ${nodes.controllerPorts.map((port) => `127.0.0.1:${port}`).join(',')}`,
    `   admin token   ${ADMIN_TOKEN}`,
    `   data          ${options.dataDir}  (kept across restarts; pnpm dev --fresh starts empty)`,
    '',
    ' Try (in another terminal, in this repository):',
    `   ${cli} topic create demo --partitions 3 --replication-factor 3`,
    `   printf 'k1:hello\\nk2:world\\n' | ${cli} produce demo --key-separator :`,
    `   ${cli} consume demo --from beginning`,
    '',
    ' Ctrl-C stops every node.',
    rule,
  ].join('\n');
}

/** SIGTERM to each running node of `group` at once, then kill -9 to those still running after `graceMs`. */
async function stopAll(group, children, graceMs) {
  const running = group.map((node) => children.get(node.name)).filter((child) => child !== undefined);
  await Promise.all(
    running.map(
      (child) =>
        new Promise((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
          child.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

function killGroup(child, signal) {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

/** Records the nodes' PIDs, so that a later start can stop nodes a killed `pnpm dev` left behind. */
function writePids(file, children) {
  try {
    writeFileSync(
      file,
      JSON.stringify({ owner: process.pid, nodes: [...children.values()].map((child) => child.pid) }),
    );
  } catch {
    // The data folder is gone (a --fresh elsewhere); the PIDs only help after a crash.
  }
}

/** Kills nodes of an earlier `pnpm dev` that was itself killed (kill -9) and could not stop them. */
async function stopLeftovers(file) {
  const killed = [];
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return;
  }
  const { owner, nodes } = typeof recorded === 'object' && recorded !== null ? recorded : {};
  if (Number.isInteger(owner) && commandLineOf(owner).includes(fileURLToPath(import.meta.url)))
    fail(`another pnpm dev (pid ${owner}) is running on ${dirname(file)}; stop it first (Ctrl-C in its terminal)`);
  for (const pid of Array.isArray(nodes) ? nodes : []) {
    if (!Number.isInteger(pid)) continue;
    // Not running gives '' (and so does a system without /proc: nothing to check it against, so leave it).
    const commandLine = commandLineOf(pid);
    if (commandLine.includes(CONTROLLER_MAIN) || commandLine.includes(BROKER_MAIN)) {
      console.error(`pnpm dev: stopping node ${pid}, left running by an earlier pnpm dev`);
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone meanwhile.
      }
      killed.push(pid);
    }
  }
  rmSync(file, { force: true });
  // Bounded: a killed process is gone, and its ports free, within moments.
  const deadline = Date.now() + 5000;
  while (killed.some((pid) => existsSync(`/proc/${pid}`)) && Date.now() < deadline) await sleep(50);
}

function commandLineOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}

main().catch((error) => fail(error instanceof Error ? error.message : String(error)));
