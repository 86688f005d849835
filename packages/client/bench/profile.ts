import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

/**
 * CPU profiles of this process's measured windows, through the inspector (the same sampler as
 * `node --cpu-prof`, but started and stopped around one window, so warm-up and setup stay out).
 * Each profile is written as `<name>.cpuprofile` (open it in Chrome's DevTools) and summed up as
 * shares of the samples: by part of the stack (the SDK, the codec, HTTP/2, GC, …) and by function.
 */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export class WindowProfiler {
  readonly #folder: string;
  readonly #session = new Session();
  #connected = false;

  constructor(folder: string) {
    this.#folder = folder;
    mkdirSync(folder, { recursive: true });
  }

  async start(): Promise<void> {
    if (!this.#connected) {
      this.#session.connect();
      this.#connected = true;
      await this.#session.post('Profiler.enable');
      await this.#session.post('Profiler.setSamplingInterval', { interval: 200 });
    }
    await this.#session.post('Profiler.start');
  }

  /** Stops the window's profile, writes it, and returns its summary as printable lines. */
  async stop(name: string): Promise<string[]> {
    const { profile } = (await this.#session.post('Profiler.stop')) as unknown as { profile: Profile };
    const file = join(this.#folder, `${name.replace(/[^a-zA-Z0-9._-]+/g, '-')}.cpuprofile`);
    writeFileSync(file, JSON.stringify(profile));
    return [`profile: ${file}`, ...summarize(profile)];
  }

  close(): void {
    if (this.#connected) this.#session.disconnect();
  }
}

/** Which part of the stack a function belongs to, by its file. */
function partOf(frame: ProfileNode['callFrame']): string {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'GC';
  if (functionName === '(program)') return 'V8 and native (program)';
  if (/\/packages\/client\/(src|dist)\/producer\//.test(url)) return 'SDK producer';
  if (/\/packages\/client\/(src|dist)\/consumer\//.test(url)) return 'SDK consumer';
  if (/\/packages\/client\/(src|dist)\//.test(url)) return 'SDK other';
  if (url.includes('/packages/protocol/') && url.includes('record-batch')) return 'codec (record-batch)';
  if (url.includes('/packages/protocol/')) return 'protocol (framing, errors)';
  if (url.includes('/zod/')) return 'zod';
  if (url.includes('/packages/http/')) return '@millrace/http (frame session)';
  if (url.includes('/packages/client/bench/')) return 'bench (load generator)';
  if (url.startsWith('node:internal/http2') || url.startsWith('node:http2')) return 'Node http2';
  if (url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'Node streams';
  if (url.startsWith('node:internal/timers') || url.startsWith('node:timers')) return 'Node timers';
  if (url.startsWith('node:')) return 'Node other';
  if (url === '') return `native: ${functionName || '(anonymous)'}`;
  return 'other JS';
}

function summarize(profile: Profile): string[] {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const parts = new Map<string, number>();
  const functions = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const frame = (byId.get(id) as ProfileNode).callFrame;
    if (frame.functionName === '(idle)') continue;
    busyUs += us;
    const part = partOf(frame);
    parts.set(part, (parts.get(part) ?? 0) + us);
    const file = frame.url.replace(/^.*\/(packages|node_modules)\//, '');
    const fn = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const share = (us: number) => `${((100 * us) / Math.max(1, busyUs)).toFixed(1)}%`;
  const top = <K>(m: Map<K, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
  return [
    `busy samples ${(busyUs / 1000).toFixed(0)} ms; by part: ${top(parts, 12)
      .map(([part, us]) => `${part} ${share(us)}`)
      .join(', ')}`,
    'top functions (self time):',
    ...top(functions, 15).map(([fn, us]) => `  ${share(us).padStart(6)}  ${fn}`),
  ];
}
