import { readFileSync } from 'node:fs';
import { arch, availableParallelism, loadavg, release, type } from 'node:os';

/**
 * The machine a run happened on, as the BENCHMARKS.md section states it: cores, CPU model, Node,
 * OS, and the load average when the run started (the cores are shared, so a busy start explains
 * low figures). `describeMachine` is pure; `readMachine` gathers its inputs.
 */

export interface MachineFacts {
  /** Cores this process may run on (what `nproc` prints). */
  readonly cores: number;
  /** The text of /proc/cpuinfo, or undefined where there is none. */
  readonly cpuinfo: string | undefined;
  readonly nodeVersion: string;
  readonly osType: string;
  readonly osRelease: string;
  readonly arch: string;
  /** 1, 5 and 15-minute load averages. */
  readonly loadAverage: readonly number[];
}

/** The first `model name` of /proc/cpuinfo (x86), else its `Hardware` or `Processor` line (ARM). */
export function cpuModel(cpuinfo: string | undefined): string {
  if (cpuinfo === undefined) return 'CPU model unknown';
  for (const field of ['model name', 'Hardware', 'Processor']) {
    const match = new RegExp(`^${field}\\s*:\\s*(.+)$`, 'm').exec(cpuinfo);
    if (match?.[1] !== undefined) return match[1].trim().replace(/\s+/g, ' ');
  }
  return 'CPU model unknown';
}

/** "2 cores (nproc), AMD EPYC 7B13, Node v20.20.2, Linux 6.8.0 x64". */
export function describeMachine(facts: MachineFacts): string {
  return (
    `${facts.cores} ${facts.cores === 1 ? 'core' : 'cores'} (nproc), ${cpuModel(facts.cpuinfo)}, ` +
    `Node ${facts.nodeVersion}, ${facts.osType} ${facts.osRelease} ${facts.arch}`
  );
}

/** "0.12 / 0.40 / 1.02 (1, 5, 15 min)". */
export function describeLoad(loadAverage: readonly number[]): string {
  return `${loadAverage.map((l) => l.toFixed(2)).join(' / ')} (1, 5, 15 min)`;
}

export function readMachine(): MachineFacts {
  let cpuinfo: string | undefined;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    cpuinfo = undefined;
  }
  return {
    cores: availableParallelism(),
    cpuinfo,
    nodeVersion: process.version,
    osType: type(),
    osRelease: release(),
    arch: arch(),
    loadAverage: loadavg(),
  };
}
