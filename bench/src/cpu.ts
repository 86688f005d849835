import { cpuSecondsByProcess, machineBusySeconds as readMachineBusySeconds } from '@millrace/test-kit';

/**
 * Where the machine's cores went during a measured window: the cluster's processes (from
 * /proc/<pid>/stat), this process (the SDK and the load, from process.cpuUsage) and everything
 * else (from /proc/stat). They all share the same cores, so a reader can tell whether the load
 * generator or a neighbour bounded a figure. The parsers are pure; `takeSnapshot` reads /proc.
 */

export { parseMachineBusySeconds, parseProcessCpuSeconds } from '@millrace/test-kit';

export interface CpuSnapshot {
  readonly atMs: number;
  readonly machineBusySeconds: number;
  /** CPU seconds of each running cluster process by name, and of this process as `bench`. */
  readonly byProcess: ReadonlyMap<string, number>;
}

export interface CoresUsed {
  readonly seconds: number;
  /** Controllers and brokers together. */
  readonly cluster: number;
  readonly brokers: number;
  readonly controllers: number;
  /** This process: the SDK and the load generator. */
  readonly bench: number;
  /** Every other process on the machine (other people's work, the kernel's threads). */
  readonly other: number;
}

/**
 * Cores used between two snapshots. A process present in only one of them (killed or started
 * in between) is left out, so a window with a restart undercounts rather than invents.
 */
export function coresUsed(before: CpuSnapshot, after: CpuSnapshot): CoresUsed {
  const seconds = (after.atMs - before.atMs) / 1000;
  let brokers = 0;
  let controllers = 0;
  let bench = 0;
  for (const [name, end] of after.byProcess) {
    const start = before.byProcess.get(name);
    if (start === undefined || end < start) continue;
    const cores = (end - start) / seconds;
    if (name === 'bench') bench = cores;
    else if (name.startsWith('broker-')) brokers += cores;
    else controllers += cores;
  }
  const machine = (after.machineBusySeconds - before.machineBusySeconds) / seconds;
  const cluster = brokers + controllers;
  return { seconds, cluster, brokers, controllers, bench, other: Math.max(0, machine - cluster - bench) };
}

/** "1.62 / 0.31 / 0.02" (cluster / bench / other), as the table's cores column shows it. */
export function formatCores(used: CoresUsed): string {
  const cores = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : 'n/a');
  return `${cores(used.cluster)} / ${cores(used.bench)} / ${cores(used.other)}`;
}

/** Reads /proc for every process in `pids` (name → pid) and this process's own usage. */
export function takeSnapshot(pids: ReadonlyMap<string, number>): CpuSnapshot {
  const byProcess = cpuSecondsByProcess(pids, 'bench');
  // Not Linux: "other" comes out NaN and prints as such.
  return { atMs: performance.now(), machineBusySeconds: readMachineBusySeconds(), byProcess };
}
