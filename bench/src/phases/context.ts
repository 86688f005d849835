import { randomBytes } from 'node:crypto';
import type { Admin, Millrace } from '@millrace/client';
import type { ProcessCluster } from '@millrace/test-kit';
import { runningPids } from '@millrace/test-kit';
import type { LogCounter } from '../cluster.js';
import { type CoresUsed, coresUsed, takeSnapshot } from '../cpu.js';
import type { Progress } from '../progress.js';
import type { Row } from '../report.js';
import type { Settings } from '../settings.js';

/** What every phase works with: the cluster, one SDK client on it, the settings and the progress line. */
export interface PhaseContext {
  readonly cluster: ProcessCluster;
  readonly client: Millrace;
  readonly admin: Admin;
  readonly settings: Settings;
  readonly progress: Progress;
  readonly sdkLog: LogCounter;
}

/** A phase's rows for the table, and lines for the notes under it (how it went: retries, errors, trials). */
export interface PhaseResult {
  readonly rows: Row[];
  readonly notes: string[];
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Starts a CPU window now; the function returned ends it. */
export function cpuWindow(context: PhaseContext): () => CoresUsed {
  const before = takeSnapshot(runningPids(context.cluster.procs));
  return () => coresUsed(before, takeSnapshot(runningPids(context.cluster.procs)));
}

/** Random values to send, a few distinct ones used in turn (random, so incompressible). */
export function valuePool(valueBytes: number, count = 64): Buffer[] {
  return Array.from({ length: count }, () => randomBytes(valueBytes));
}

/** "100 B" or "1 KiB". */
export function sizeText(valueBytes: number): string {
  return valueBytes % 1024 === 0 ? `${valueBytes / 1024} KiB` : `${valueBytes} B`;
}

/** An error as one short line for a table cell. */
export function errorText(error: unknown): string {
  const text =
    error instanceof Error
      ? `${error.message}${error.cause instanceof Error ? ` (${error.cause.message})` : ''}`
      : String(error);
  const line = text.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}
