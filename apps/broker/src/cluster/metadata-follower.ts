import { createH2Client } from '@millrace/http';
import { MetadataImage } from '@millrace/metadata';
import { type Endpoint, Headers, MetadataStreamFrameSchema, type ParsedMetadataRecord } from '@millrace/protocol';
import type { Client } from 'undici';
import { originOf } from './controller-client.js';

export interface MetadataFollowerOptions {
  readonly controllers: readonly Endpoint[];
  readonly clusterSecret: string;
  readonly brokerId: number;
  /** Called after each change to the image: a batch applied, or a snapshot loaded. */
  readonly onChange?: (image: MetadataImage, change: MetadataChange) => void;
  /** Called when a stream fails, before moving to the next controller. */
  readonly onError?: (error: unknown) => void;
  /** A stream that delivers nothing (not even a heartbeat) for this long is given up. Default 5000 ms. */
  readonly silenceTimeoutMs?: number;
  /** Longest line accepted from the stream (a batch of records). Default 64 MiB. */
  readonly lineBytesMax?: number;
}

export type MetadataChange =
  | { readonly kind: 'snapshot'; readonly offset: number }
  | { readonly kind: 'batch'; readonly offset: number; readonly records: readonly ParsedMetadataRecord[] };

/**
 * Follows the committed metadata log from the controllers over one long-lived HTTP/2 stream and
 * keeps the broker's copy of the image. It asks for the offset after the last one it applied, so
 * after a reconnect or a controller failover it resumes without a gap or a duplicate; a batch or
 * snapshot at or below what it holds (from a controller that is behind) is skipped, never applied
 * twice and never taken back. Every frame is checked by its schema; a stream that sends something
 * else, or goes silent, is dropped and the next controller is tried.
 */
export class MetadataFollower {
  #image = new MetadataImage();
  readonly #options: MetadataFollowerOptions;
  readonly #clients = new Map<string, Client>();
  #abort: AbortController | undefined;
  #running: Promise<void> | undefined;
  #next = 0;
  /** The last committed offset the controllers reported: the broker is caught up when it has applied it. */
  #committedOffset = -1;

  constructor(options: MetadataFollowerOptions) {
    this.#options = options;
  }

  get image(): MetadataImage {
    return this.#image;
  }

  /** The offset of the last batch applied (-1 before any). */
  get offset(): number {
    return this.#image.offset;
  }

  /**
   * Whether this broker holds everything the controllers last said was committed. Each stream
   * opens with a heartbeat naming the committed offset, so this stays false while a broker
   * replays the log from the start.
   */
  get caughtUp(): boolean {
    return this.#committedOffset >= 0 && this.#image.offset >= this.#committedOffset;
  }

  start(): void {
    if (this.#running !== undefined) return;
    this.#abort = new AbortController();
    this.#running = this.#loop(this.#abort.signal);
  }

  async stop(): Promise<void> {
    this.#abort?.abort();
    await this.#running;
    this.#running = undefined;
    await Promise.all([...this.#clients.values()].map((client) => client.destroy().catch(() => undefined)));
    this.#clients.clear();
  }

  async #loop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const endpoint = this.#options.controllers[this.#next % this.#options.controllers.length] as Endpoint;
      try {
        await this.#follow(originOf(endpoint), signal);
        failures = 0;
      } catch (error) {
        if (signal.aborted) return;
        this.#options.onError?.(error);
        failures++;
      }
      this.#next++;
      const delayMs = Math.min(1000, 50 * 2 ** Math.min(failures, 5));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async #follow(origin: string, signal: AbortSignal): Promise<void> {
    let client = this.#clients.get(origin);
    if (client === undefined) {
      client = createH2Client(origin, { connectTimeoutMs: 1000 });
      this.#clients.set(origin, client);
    }
    const silence = new AbortController();
    const both = AbortSignal.any([signal, silence.signal]);
    const silenceMs = this.#options.silenceTimeoutMs ?? 5000;
    let timer = setTimeout(() => silence.abort(), silenceMs);
    const alive = () => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), silenceMs);
    };
    try {
      const response = await client.request({
        method: 'GET',
        path: `/v1/metadata/stream?fromOffset=${this.#image.offset + 1}&brokerId=${this.#options.brokerId}`,
        headers: { [Headers.clusterSecret]: this.#options.clusterSecret },
        signal: both,
      });
      if (response.statusCode !== 200) {
        const text = await response.body.text();
        throw new Error(`metadata stream from ${origin} answered ${response.statusCode}: ${text.slice(0, 500)}`);
      }
      const lineBytesMax = this.#options.lineBytesMax ?? 64 * 1024 * 1024;
      let pending = '';
      for await (const chunk of response.body) {
        alive();
        pending += chunk.toString('utf8');
        if (pending.length > lineBytesMax)
          throw new Error(`metadata stream from ${origin} sent a line over ${lineBytesMax} bytes`);
        let newline = pending.indexOf('\n');
        while (newline >= 0) {
          this.#apply(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
          newline = pending.indexOf('\n');
        }
      }
    } finally {
      clearTimeout(timer);
    }
  }

  #apply(line: string): void {
    if (line.length === 0) return;
    const frame = MetadataStreamFrameSchema.parse(JSON.parse(line));
    switch (frame.kind) {
      case 'snapshot': {
        if (frame.offset <= this.#image.offset) return;
        this.#image = MetadataImage.fromSnapshot(frame.offset, frame.records);
        this.#committedOffset = Math.max(this.#committedOffset, frame.offset);
        this.#options.onChange?.(this.#image, { kind: 'snapshot', offset: frame.offset });
        return;
      }
      case 'batch': {
        if (frame.offset <= this.#image.offset) return;
        // Applied to a copy and swapped in whole, so the image never shows half a batch.
        const next = this.#image.clone();
        for (const record of frame.records) next.apply(frame.offset, record);
        this.#image = next;
        this.#committedOffset = Math.max(this.#committedOffset, frame.offset);
        this.#options.onChange?.(this.#image, { kind: 'batch', offset: frame.offset, records: frame.records });
        return;
      }
      case 'heartbeat':
        this.#committedOffset = Math.max(this.#committedOffset, frame.committedOffset);
        return;
    }
  }
}
