/**
 * The simulator's replicated state machine: a small key-value store. Commands carry the client
 * and operation that issued them, and the store applies each (client, op) once only, as a real
 * service must (thesis §6.3), because a forwarded proposal can be duplicated by the network and
 * appended twice.
 */

export interface PutCommand {
  readonly kind: 'put';
  readonly client: number;
  readonly op: number;
  readonly key: string;
  readonly value: string;
}

/** A no-op the liveness check proposes after faults heal. */
export interface MarkerCommand {
  readonly kind: 'marker';
  readonly marker: number;
}

export type Command = PutCommand | MarkerCommand;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeCommand(command: Command): Uint8Array {
  return encoder.encode(JSON.stringify(command));
}

export function decodeCommand(data: Uint8Array): Command | undefined {
  if (data.byteLength === 0) return undefined; // the leader's empty entry
  return JSON.parse(decoder.decode(data)) as Command;
}

export function opKey(client: number, op: number): string {
  return `${client}:${op}`;
}

export class KvStore {
  private readonly values = new Map<string, string>();
  private readonly appliedOps = new Set<string>();

  /** Applies a command; returns the put's op key if it took effect now (not a duplicate). */
  apply(command: Command | undefined): string | undefined {
    if (command === undefined || command.kind !== 'put') return undefined;
    const key = opKey(command.client, command.op);
    if (this.appliedOps.has(key)) return undefined;
    this.appliedOps.add(key);
    this.values.set(command.key, command.value);
    return key;
  }

  get(key: string): string | null {
    return this.values.get(key) ?? null;
  }

  hasApplied(client: number, op: number): boolean {
    return this.appliedOps.has(opKey(client, op));
  }

  /** A deterministic encoding: identical stores produce identical bytes. */
  serialize(): Uint8Array {
    const values = [...this.values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const ops = [...this.appliedOps].sort();
    return encoder.encode(JSON.stringify({ values, ops }));
  }

  static deserialize(data: Uint8Array): KvStore {
    const store = new KvStore();
    if (data.byteLength === 0) return store;
    const parsed = JSON.parse(decoder.decode(data)) as { values: [string, string][]; ops: string[] };
    for (const [k, v] of parsed.values) store.values.set(k, v);
    for (const op of parsed.ops) store.appliedOps.add(op);
    return store;
  }
}
