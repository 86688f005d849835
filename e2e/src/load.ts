import { randomBytes } from 'node:crypto';
import type { Millrace, Producer, ProducerOptions } from '@millrace/client';
import { waitFor } from '@millrace/test-kit';
import type { AckedRecord, RecordId } from './checker.js';

/**
 * The load generator of the fault scenarios and the soak: one idempotent acks=all producer, several
 * sends in flight at once (as a busy service makes them), each record's value its identity
 * (`stream/seq`), and every acknowledgement recorded for the checker. Records go round-robin over
 * the partitions by `seq`, so every partition sees the stream in order.
 */

export interface LoadOptions {
  readonly client: Millrace;
  readonly topic: string;
  /** The topic's partition count. */
  readonly partitions: number;
  /** The stream name in every identity. Default: random, so two runs never share identities. */
  readonly stream?: string;
  /** Concurrent send loops sharing the producer. Default 4. */
  readonly writers?: number;
  readonly recordsPerSend?: number;
  /** Each writer waits this long after each send, to keep a 2-core machine able to fail over. Default 20. */
  readonly paceMs?: number;
  /** Producer options over the load's own (acks all, idempotent, 2 ms linger, 60 s delivery timeout). */
  readonly producer?: ProducerOptions;
}

export interface LoadStats {
  readonly sent: number;
  readonly acknowledged: number;
  readonly failed: number;
  /** The longest time without any acknowledgement while the load ran, in ms. */
  readonly longestStallMs: number;
}

export class Load {
  readonly stream: string;
  /** Every acknowledged record, in the order the acknowledgements came. */
  readonly acked: AckedRecord[] = [];
  /** Every send that failed (its error), each failing all of its records. */
  readonly failures: unknown[] = [];
  readonly #producer: Producer;
  readonly #options: LoadOptions;
  readonly #writers: Promise<void>[];
  #nextSeq = 0;
  #stopping = false;
  #lastAckAt = performance.now();
  #longestStallMs = 0;

  constructor(options: LoadOptions) {
    this.#options = options;
    this.stream = options.stream ?? randomBytes(4).toString('hex');
    this.#producer = options.client.producer({
      acks: 'all',
      idempotent: true,
      lingerMs: 2,
      deliveryTimeoutMs: 60_000,
      ...options.producer,
    });
    this.#writers = Array.from({ length: options.writers ?? 4 }, () => this.#write());
  }

  get sent(): number {
    return this.#nextSeq;
  }

  async #write(): Promise<void> {
    const { topic, partitions, recordsPerSend = 5, paceMs = 20 } = this.#options;
    while (!this.#stopping) {
      // Identities are taken right before `send`, with nothing awaited between: calls are appended
      // in the order they are made, so seq order is send order within each partition.
      const seqs = Array.from({ length: recordsPerSend }, () => this.#nextSeq++);
      try {
        const written = await this.#producer.send({
          topic,
          messages: seqs.map((seq) => ({
            partition: seq % partitions,
            value: encodeRecordId({ stream: this.stream, seq }),
          })),
        });
        const now = performance.now();
        this.#longestStallMs = Math.max(this.#longestStallMs, now - this.#lastAckAt);
        this.#lastAckAt = now;
        for (const [i, record] of written.entries()) {
          this.acked.push({
            topic,
            partition: record.partition,
            offset: record.offset,
            id: { stream: this.stream, seq: seqs[i] as number },
          });
        }
      } catch (error) {
        this.failures.push(error);
      }
      if (paceMs > 0) await new Promise((resolve) => setTimeout(resolve, paceMs));
    }
  }

  /** Waits (bounded) until at least `count` records in all have been acknowledged. */
  async waitForAcks(count: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(
      `${count} acknowledged records (have ${this.acked.length}; ${this.failures.length} failed sends: ${String(this.failures[0] ?? '')})`,
      () => this.acked.length >= count,
      timeoutMs,
    );
  }

  /** Waits (bounded) until `count` more records than now have been acknowledged. */
  async waitForMore(count: number, timeoutMs = 30_000): Promise<void> {
    await this.waitForAcks(this.acked.length + count, timeoutMs);
  }

  /** Stops sending, waits for every send in flight to settle, and closes the producer. */
  async stop(): Promise<LoadStats> {
    this.#stopping = true;
    await Promise.all(this.#writers);
    await this.#producer.close();
    return {
      sent: this.#nextSeq,
      acknowledged: this.acked.length,
      failed: this.#nextSeq - this.acked.length,
      longestStallMs: Math.round(this.#longestStallMs),
    };
  }
}

export function startLoad(options: LoadOptions): Load {
  return new Load(options);
}

export function encodeRecordId(id: RecordId): string {
  return `${id.stream}/${id.seq}`;
}

/** The identity in a record's value, or null for a value the load generator did not write. */
export function decodeRecordId(value: Buffer | null): RecordId | null {
  if (value === null) return null;
  const match = /^([0-9a-zA-Z_.-]+)\/(0|[1-9][0-9]{0,15})$/.exec(value.toString('utf8'));
  if (match === null) return null;
  return { stream: match[1] as string, seq: Number(match[2]) };
}

/** Per partition, the log end that covers every acknowledgement: the largest offset acknowledged + 1. */
export function ackedEnds(acked: readonly AckedRecord[]): Map<number, bigint> {
  const ends = new Map<number, bigint>();
  for (const record of acked) {
    const end = record.offset + 1n;
    if (end > (ends.get(record.partition) ?? 0n)) ends.set(record.partition, end);
  }
  return ends;
}
