import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LeaderReplicationState } from '../../src/replication/leader-state.js';

const LAG_MS = 10_000;
const eligible = () => true;

function leader(overrides: Partial<ConstructorParameters<typeof LeaderReplicationState>[0]> = {}) {
  return new LeaderReplicationState({
    leaderId: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    leaderEpoch: 4,
    partitionEpoch: 7,
    leaderEpochStartOffset: 100n,
    logEndOffset: 100n,
    highWatermark: 90n,
    nowMs: 0,
    ...overrides,
  });
}

describe('leader replication state', () => {
  it('moves the high watermark to the smallest log end in the ISR, never back', () => {
    const state = leader();
    expect(state.highWatermark).toBe(90n);
    state.onAppend(120n);
    expect(state.onFollowerFetch(2, 110n, 1)).toBe(false); // follower 3 has not fetched yet
    expect(state.onFollowerFetch(3, 105n, 1)).toBe(true);
    expect(state.highWatermark).toBe(105n);
    expect(state.onFollowerFetch(3, 100n, 2)).toBe(false); // a stale fetch never moves it back
    expect(state.highWatermark).toBe(105n);
    state.onFollowerFetch(3, 120n, 3);
    expect(state.highWatermark).toBe(110n);
    state.onFollowerFetch(2, 120n, 3);
    expect(state.highWatermark).toBe(120n);
    expect(state.isCommitted(120n)).toBe(true);
    expect(state.isCommitted(121n)).toBe(false);
  });

  it('a leader alone in its ISR commits what it appends', () => {
    const state = leader({ isr: [1] });
    expect(state.highWatermark).toBe(100n);
    state.onAppend(150n);
    expect(state.highWatermark).toBe(150n);
  });

  it('shrinks the ISR for a follower that has not caught up within the lag time', () => {
    const state = leader();
    state.onAppend(200n);
    state.onFollowerFetch(2, 200n, 1_000);
    state.onFollowerFetch(3, 150n, 1_000); // behind
    expect(state.proposeIsrChange(5_000, LAG_MS, eligible)).toBeUndefined();
    state.onFollowerFetch(2, 200n, 10_500);
    expect(state.proposeIsrChange(10_500, LAG_MS, eligible)).toEqual([1, 2]);
    // One change at a time.
    expect(state.proposeIsrChange(20_000, LAG_MS, eligible)).toBeUndefined();
    // While the shrink is in flight, follower 3 still holds the high watermark back (maximal ISR).
    expect(state.highWatermark).toBe(150n);
    state.onIsrCommitted([1, 2], 8);
    expect(state.isr).toEqual([1, 2]);
    expect(state.highWatermark).toBe(200n);
  });

  it('a follower that keeps fetching what the leader had at its last fetch counts as caught up then', () => {
    const state = leader();
    state.onFollowerFetch(2, 100n, 1_000); // caught up at 1000
    state.onAppend(130n);
    state.onFollowerFetch(2, 100n, 9_000); // reached the log end as of its last fetch: caught up at 1000
    state.onAppend(160n);
    state.onFollowerFetch(2, 130n, 12_000); // reached the log end as of its last fetch (130): caught up at 9000
    state.onFollowerFetch(3, 160n, 12_000);
    expect(state.followers().find((f) => f.brokerId === 2)?.lastCaughtUpMs).toBe(9_000);
    expect(state.proposeIsrChange(12_000, LAG_MS, eligible)).toBeUndefined();
  });

  it('expands the ISR once a follower reaches the high watermark and the epoch start', () => {
    const state = leader({ isr: [1, 2], highWatermark: 100n, logEndOffset: 100n });
    state.onAppend(140n);
    state.onFollowerFetch(2, 140n, 1);
    expect(state.highWatermark).toBe(140n);
    state.onFollowerFetch(3, 120n, 1);
    expect(state.proposeIsrChange(1, LAG_MS, eligible)).toBeUndefined();
    state.onFollowerFetch(3, 140n, 2);
    expect(state.proposeIsrChange(2, LAG_MS, () => false)).toBeUndefined(); // fenced brokers never join
    expect(state.proposeIsrChange(2, LAG_MS, eligible)).toEqual([1, 2, 3]);
    state.onIsrChangeFailed();
    expect(state.proposeIsrChange(2, LAG_MS, eligible)).toEqual([1, 2, 3]);
    state.onIsrCommitted([1, 2, 3], 8);
    expect(state.hasMinIsr(3)).toBe(true);
  });

  it('while an expansion is in flight, the joining follower holds the high watermark back (KIP-497)', () => {
    const state = leader({ isr: [1, 2], highWatermark: 100n, logEndOffset: 100n });
    state.onFollowerFetch(2, 100n, 1);
    state.onFollowerFetch(3, 100n, 1);
    expect(state.proposeIsrChange(1, LAG_MS, eligible)).toEqual([1, 2, 3]);
    state.onAppend(200n);
    state.onFollowerFetch(2, 200n, 2);
    // If the expansion commits, broker 3 is in the ISR with only 100: nothing above it is committed yet.
    expect(state.highWatermark).toBe(100n);
    state.onFollowerFetch(3, 160n, 3);
    expect(state.highWatermark).toBe(160n);
  });

  it('refuses acks=all below min.insync.replicas', () => {
    const state = leader({ isr: [1] });
    expect(state.hasMinIsr(2)).toBe(false);
    expect(state.hasMinIsr(1)).toBe(true);
  });

  it('ignores a stale ISR confirmation', () => {
    const state = leader();
    state.onIsrCommitted([1, 2], 9);
    expect(state.onIsrCommitted([1, 2, 3], 8)).toBe(false);
    expect(state.isr).toEqual([1, 2]);
  });

  it('never lets the high watermark fall or pass a replica that may be in the ISR (property)', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), by: fc.integer({ min: 0, max: 20 }) }),
      fc.record({
        kind: fc.constant('fetch' as const),
        follower: fc.constantFrom(2, 3),
        back: fc.integer({ min: 0, max: 30 }),
      }),
      fc.record({ kind: fc.constant('propose' as const), advanceMs: fc.integer({ min: 0, max: 15_000 }) }),
      fc.record({ kind: fc.constant('commit' as const), ok: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const state = leader();
        let now = 0;
        let epoch = 7;
        let last = state.highWatermark;
        const ends = new Map<number, bigint>([
          [2, -1n],
          [3, -1n],
        ]);
        for (const o of ops) {
          if (o.kind === 'append') state.onAppend(state.logEndOffset + BigInt(o.by));
          if (o.kind === 'fetch') {
            // A follower fetches somewhere behind the leader's end, but never behind where it
            // already was: it does not lose records it has (the flush policy's promise).
            const wanted = state.logEndOffset - BigInt(o.back);
            const previous = ends.get(o.follower) ?? -1n;
            const end = wanted > previous ? wanted : previous < 0n ? 0n : previous;
            ends.set(o.follower, end);
            state.onFollowerFetch(o.follower, end, now);
          }
          if (o.kind === 'propose') {
            now += o.advanceMs;
            state.proposeIsrChange(now, LAG_MS, eligible);
          }
          if (o.kind === 'commit' && state.pendingIsr !== undefined) {
            if (o.ok) state.onIsrCommitted(state.pendingIsr, ++epoch);
            else state.onIsrChangeFailed();
          }
          expect(state.highWatermark >= last).toBe(true);
          expect(state.highWatermark <= state.logEndOffset).toBe(true);
          const mayBeInIsr = new Set([...state.isr, ...(state.pendingIsr ?? [])]);
          for (const [id, end] of ends) {
            if (mayBeInIsr.has(id) && state.highWatermark > 90n) expect(state.highWatermark <= end).toBe(true);
          }
          expect(state.isr).toContain(1);
          last = state.highWatermark;
        }
      }),
      { numRuns: 300 },
    );
  });
});
