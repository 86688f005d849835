import { describe, expect, test } from 'vitest';
import { checkLinearizable, type HistoryOp, isLinearizableRegister } from './linearizability.js';

let nextOp = 0;
function put(key: string, value: string, invokeAt: number, completeAt: number | undefined, process = 0): HistoryOp {
  return { process, opId: nextOp++, kind: 'put', key, value, output: undefined, invokeAt, completeAt, invokeUnits: 0 };
}
function get(key: string, output: string | null, invokeAt: number, completeAt: number, process = 1): HistoryOp {
  return { process, opId: nextOp++, kind: 'get', key, value: undefined, output, invokeAt, completeAt, invokeUnits: 0 };
}

describe('linearizability checker', () => {
  test('a sequential history that reads its writes is linearizable', () => {
    expect(
      isLinearizableRegister([
        get('x', null, 1, 2),
        put('x', 'a', 3, 4),
        get('x', 'a', 5, 6),
        put('x', 'b', 7, 8),
        get('x', 'b', 9, 10),
      ]),
    ).toBe(true);
  });

  test('a read of a value overwritten before the read began is not linearizable', () => {
    expect(isLinearizableRegister([put('x', 'a', 1, 2), put('x', 'b', 3, 4), get('x', 'a', 5, 6)])).toBe(false);
  });

  test('a read that misses a write completed before it began is not linearizable (stale read)', () => {
    expect(isLinearizableRegister([put('x', 'a', 1, 2), get('x', null, 3, 4)])).toBe(false);
  });

  test('a read concurrent with a write may see either value', () => {
    expect(isLinearizableRegister([put('x', 'a', 1, 10), get('x', null, 2, 3)])).toBe(true);
    expect(isLinearizableRegister([put('x', 'a', 1, 10), get('x', 'a', 2, 3)])).toBe(true);
  });

  test('once a concurrent write has been observed, a later read cannot go back', () => {
    // get→a finishes before get→null starts, both overlap the put: no order explains both.
    expect(isLinearizableRegister([put('x', 'a', 1, 20), get('x', 'a', 2, 3), get('x', null, 4, 5)])).toBe(false);
  });

  test('a value nobody wrote is never linearizable', () => {
    expect(isLinearizableRegister([put('x', 'a', 1, 2), get('x', 'z', 3, 4)])).toBe(false);
  });

  test('a put that never completed may take effect late, or never', () => {
    expect(isLinearizableRegister([put('x', 'a', 1, undefined), get('x', null, 2, 3), get('x', 'a', 4, 5)])).toBe(true);
    expect(isLinearizableRegister([put('x', 'a', 1, undefined), get('x', null, 2, 3), get('x', null, 4, 5)])).toBe(
      true,
    );
    // But not before it was invoked.
    expect(isLinearizableRegister([get('x', 'a', 1, 2), put('x', 'a', 3, undefined)])).toBe(false);
  });

  test('concurrent writes may be ordered either way, but consistently', () => {
    const w1 = put('x', 'a', 1, 5, 0);
    const w2 = put('x', 'b', 2, 6, 2);
    expect(isLinearizableRegister([w1, w2, get('x', 'a', 7, 8), get('x', 'a', 9, 10)])).toBe(true);
    expect(isLinearizableRegister([w1, w2, get('x', 'b', 7, 8), get('x', 'a', 9, 10)])).toBe(false);
  });

  test('the search gives up, rather than hang, beyond its state limit', () => {
    // Twelve concurrent writes and a read of a value none wrote: every order must be tried.
    const ops = Array.from({ length: 12 }, (_, i) => put('x', `p${i}`, i + 1, undefined, 100 + i));
    ops.push(get('x', 'never-written', 20, 21));
    expect(isLinearizableRegister(ops, null, 50)).toBe('gave-up');
    expect(isLinearizableRegister(ops)).toBe(false);
  });

  test('histories are checked per key, and the failing key is reported', () => {
    const ok = [put('x', 'a', 1, 2), get('x', 'a', 3, 4)];
    const bad = [put('y', 'b', 5, 6), get('y', null, 7, 8)];
    expect(checkLinearizable([...ok, ...bad])).toMatchObject({ ok: false, reason: 'violation', key: 'y' });
    expect(checkLinearizable(ok)).toEqual({ ok: true });
  });

  test('a long history with many concurrent pending writes is decided quickly', () => {
    const ops: HistoryOp[] = [];
    let t = 0;
    for (let i = 0; i < 12; i++) ops.push(put('x', `p${i}`, ++t, undefined, 100 + i));
    for (let i = 0; i < 40; i++) {
      const start = ++t;
      ops.push(put('x', `v${i}`, start, ++t, 0));
      ops.push(get('x', `v${i}`, ++t, ++t, 1));
    }
    const started = performance.now();
    expect(isLinearizableRegister(ops)).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
