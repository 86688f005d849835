/**
 * A linearizability checker for histories of a key-value register, after Wing & Gong's search
 * with Lowe's memoization (as in Porcupine): find an order of the operations that respects real
 * time (an operation that completed before another was invoked comes first) and in which every
 * get returns the value of the latest put before it.
 *
 * Linearizability is compositional (Herlihy & Wing), so each key is checked on its own, which
 * keeps the search small. An operation that never completed (the client gave up on a put) may
 * take effect at any point after its invocation, or never: it gets an infinite completion time.
 */

export interface HistoryOp {
  readonly process: number;
  readonly opId: number;
  readonly kind: 'put' | 'get';
  readonly key: string;
  /** The value a put writes. */
  readonly value: string | undefined;
  /** The value a get returned (null: the key was absent). */
  output: string | null | undefined;
  /** Logical times; distinct across the whole history. */
  readonly invokeAt: number;
  completeAt: number | undefined;
  /** Simulated time of the invocation (for timeouts, not for checking). */
  readonly invokeUnits: number;
}

export type CheckResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      /** `violation`: no valid order exists; `gave-up`: the search hit its state limit. */
      readonly reason: 'violation' | 'gave-up';
      readonly key: string;
      readonly ops: readonly HistoryOp[];
    };

/** The search's bound on distinct (linearized set, state) pairs, so a pathological history cannot hang a run. */
export const SEARCH_STATES_MAX = 1_000_000;

interface ListNode {
  readonly op: number;
  readonly isCall: boolean;
  readonly time: number;
  match: ListNode | undefined;
  prev: ListNode | undefined;
  next: ListNode | undefined;
}

type State = string | null;

function step(state: State, op: HistoryOp): { ok: boolean; state: State } {
  if (op.kind === 'put') return { ok: true, state: op.value ?? null };
  return { ok: op.output === state, state };
}

function lift(call: ListNode): void {
  call.prev!.next = call.next;
  if (call.next !== undefined) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next !== undefined) ret.next.prev = ret.prev;
}

function unlift(call: ListNode): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next !== undefined) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next !== undefined) call.next.prev = call;
}

/**
 * Checks one key's operations, in any order: true when a valid linearization exists, false when
 * none does, 'gave-up' when the search exceeded `statesMax`.
 */
export function isLinearizableRegister(
  ops: readonly HistoryOp[],
  initial: State = null,
  statesMax = SEARCH_STATES_MAX,
): boolean | 'gave-up' {
  const events: ListNode[] = [];
  ops.forEach((op, i) => {
    const call: ListNode = {
      op: i,
      isCall: true,
      time: op.invokeAt,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const ret: ListNode = {
      op: i,
      isCall: false,
      time: op.completeAt ?? Number.POSITIVE_INFINITY,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    call.match = ret;
    events.push(call, ret);
  });
  // Calls before returns at equal times (only infinite returns can tie), then by op.
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op - b.op : a.isCall ? -1 : 1));
  const head: ListNode = {
    op: -1,
    isCall: false,
    time: Number.NEGATIVE_INFINITY,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }

  let state: State = initial;
  let linearized = 0n;
  const cache = new Set<string>();
  const stack: { call: ListNode; state: State }[] = [];
  let entry = head.next;
  while (head.next !== undefined) {
    if (entry?.isCall) {
      const op = ops[entry.op]!;
      const result = step(state, op);
      if (result.ok) {
        const bits = linearized | (1n << BigInt(entry.op));
        const key = `${bits.toString(36)}|${result.state}`;
        if (!cache.has(key)) {
          if (cache.size >= statesMax) return 'gave-up';
          cache.add(key);
          stack.push({ call: entry, state });
          state = result.state;
          linearized = bits;
          lift(entry);
          entry = head.next;
          continue;
        }
      }
      entry = entry.next;
    } else {
      // We reached the completion of an operation not yet placed (or ran out of candidates):
      // undo the last choice and try the next candidate after it.
      const top = stack.pop();
      if (top === undefined) return false;
      state = top.state;
      linearized &= ~(1n << BigInt(top.call.op));
      unlift(top.call);
      entry = top.call.next;
    }
  }
  return true;
}

/** Checks a whole history, key by key. */
export function checkLinearizable(history: readonly HistoryOp[]): CheckResult {
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    let ops = byKey.get(op.key);
    if (ops === undefined) {
      ops = [];
      byKey.set(op.key, ops);
    }
    ops.push(op);
  }
  for (const [key, ops] of byKey) {
    const result = isLinearizableRegister(ops);
    if (result !== true) return { ok: false, reason: result === false ? 'violation' : 'gave-up', key, ops };
  }
  return { ok: true };
}

export function formatHistory(ops: readonly HistoryOp[]): string[] {
  return [...ops]
    .sort((a, b) => a.invokeAt - b.invokeAt)
    .map((op) => {
      const what = op.kind === 'put' ? `put ${op.key}=${op.value}` : `get ${op.key} -> ${op.output}`;
      const end = op.completeAt === undefined ? '∞' : String(op.completeAt);
      return `  p${op.process} ${what} [${op.invokeAt}, ${end}]`;
    });
}
