import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Proc } from './processes.js';

/**
 * CPU time from /proc, for the benchmarks that say where a 2-core machine's cores went: a process's
 * own (/proc/<pid>/stat) and the whole machine's (/proc/stat). The parsers are pure; the readers
 * read /proc (Linux only: elsewhere they throw, or give NaN for the machine).
 */

/** Clock ticks per second of /proc's CPU times (USER_HZ, 100 on every Linux build Node runs on). */
const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) from the text of /proc/<pid>/stat. */
export function parseProcessCpuSeconds(stat: string): number {
  // The command name (field 2) is in parentheses and may hold spaces or ')': count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of proc(5), so 11 and 12 counted from field 3.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`not a /proc/<pid>/stat line: ${stat}`);
  return (utime + stime) / TICKS_PER_SECOND;
}

/** CPU seconds the machine has been busy on all its cores (neither idle nor waiting for I/O), from /proc/stat. */
export function parseMachineBusySeconds(procStat: string): number {
  const line = procStat.split('\n')[0] ?? '';
  const [label, ...ticks] = line.trim().split(/\s+/);
  if (label !== 'cpu' || ticks.length < 5) throw new Error(`not a /proc/stat cpu line: ${line}`);
  const values = ticks.slice(0, 8).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  return (total - (values[3] ?? 0) - (values[4] ?? 0)) / TICKS_PER_SECOND;
}

/** CPU seconds a running process has used; throws once it is gone. */
export function processCpuSeconds(pid: number): number {
  return parseProcessCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
}

/** CPU seconds the machine has been busy, or NaN where there is no /proc/stat. */
export function machineBusySeconds(): number {
  try {
    return parseMachineBusySeconds(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return Number.NaN;
  }
}

/** Name → pid of the processes in `procs` that are still running (test-kit's or plain child processes). */
export function runningPids(procs: ReadonlyMap<string, Proc | ChildProcess>): Map<string, number> {
  const pids = new Map<string, number>();
  for (const [name, value] of procs) {
    const child = 'child' in value ? value.child : value;
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) pids.set(name, child.pid);
  }
  return pids;
}

/**
 * CPU seconds of each process in `pids` (one that exited meanwhile is left out) and of this
 * process itself, under `self`: what a benchmark samples before and after a measured window.
 */
export function cpuSecondsByProcess(pids: ReadonlyMap<string, number>, self: string): Map<string, number> {
  const byProcess = new Map<string, number>();
  for (const [name, pid] of pids) {
    try {
      byProcess.set(name, processCpuSeconds(pid));
    } catch {
      // Exited between the look and the read.
    }
  }
  const own = process.cpuUsage();
  byProcess.set(self, (own.user + own.system) / 1e6);
  return byProcess;
}
