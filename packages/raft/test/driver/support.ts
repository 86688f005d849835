import type { StateMachine } from '../../src/driver/node.js';
import type { Snapshot } from '../../src/index.js';

/** An append-only list of strings: every node must end with the same list. */
export class ListMachine implements StateMachine<number> {
  items: string[] = [];
  apply(data: Uint8Array): number {
    this.items.push(Buffer.from(data).toString());
    return this.items.length;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify(this.items));
  }
  restore(snapshot: Snapshot): void {
    this.items = JSON.parse(Buffer.from(snapshot.data).toString());
  }
}

/** Polls `check` every 10 ms until it returns a value, failing after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
