import * as assert from 'node:assert/strict';
import { describe, it } from 'vitest';
import {
  type CpuSnapshot,
  coresUsed,
  formatCores,
  parseMachineBusySeconds,
  parseProcessCpuSeconds,
} from '../src/cpu.js';

describe('parseProcessCpuSeconds', () => {
  it('adds utime and stime, counting fields after the command name even when it holds ") "', () => {
    const rest = 'S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 200 300';
    assert.equal(parseProcessCpuSeconds(`1234 (node) ${rest}`), 3);
    assert.equal(parseProcessCpuSeconds(`1234 (a) (b c) ${rest}`), 3);
  });

  it('refuses text that is not a stat line', () => {
    assert.throws(() => parseProcessCpuSeconds('nonsense'));
  });
});

describe('parseMachineBusySeconds', () => {
  it('is every tick of the cpu line except idle and iowait', () => {
    // user nice system idle iowait irq softirq steal guest guest_nice
    const stat = 'cpu  100 10 50 1000 40 5 5 0 0 0\ncpu0 50 5 25 500 20 2 3 0 0 0\n';
    assert.equal(parseMachineBusySeconds(stat), 1.7);
  });
});

describe('coresUsed', () => {
  const snapshot = (atMs: number, busy: number, entries: [string, number][]): CpuSnapshot => ({
    atMs,
    machineBusySeconds: busy,
    byProcess: new Map(entries),
  });

  it('divides each group’s CPU by the window, and what is left of the machine is other', () => {
    const before = snapshot(0, 10, [
      ['broker-1', 1],
      ['controller-1', 1],
      ['bench', 2],
    ]);
    const after = snapshot(2000, 14, [
      ['broker-1', 3],
      ['controller-1', 1.5],
      ['bench', 2.5],
    ]);
    const used = coresUsed(before, after);
    assert.equal(used.seconds, 2);
    assert.equal(used.brokers, 1);
    assert.equal(used.controllers, 0.25);
    assert.equal(used.cluster, 1.25);
    assert.equal(used.bench, 0.25);
    assert.equal(used.other, 0.5);
    assert.equal(formatCores(used), '1.25 / 0.25 / 0.50');
  });

  it('leaves out a process that is in one snapshot only (killed or restarted in between)', () => {
    const used = coresUsed(
      snapshot(0, 0, [['broker-1', 5]]),
      snapshot(1000, 0, [
        ['broker-2', 9],
        ['bench', 0],
      ]),
    );
    assert.equal(used.brokers, 0);
  });

  it('prints n/a where the machine figure is unknown', () => {
    const used = coresUsed(snapshot(0, Number.NaN, []), snapshot(1000, Number.NaN, []));
    assert.equal(formatCores(used), '0.00 / 0.00 / n/a');
  });
});
