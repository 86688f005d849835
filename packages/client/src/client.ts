import { Admin, type AdminOptions } from './admin.js';
import { Cluster } from './cluster.js';
import { Consumer } from './consumer/consumer.js';
import { createLogger, type Logger, type LogSink, stderrSink } from './logger.js';
import {
  type ClientOptionsInput,
  ClientOptionsSchema,
  type ConsumerOptionsInput,
  ConsumerOptionsSchema,
  type ProducerOptionsInput,
  ProducerOptionsSchema,
  parseOptions,
  withOverride,
} from './options.js';
import type { Partitioner } from './producer/partitioner.js';
import { Producer } from './producer/producer.js';
import type { RetryOptions } from './retry.js';

/**
 * The entry point: `new Millrace({ bootstrap: ['127.0.0.1:9092'] })`. It holds the connections
 * (one HTTP/2 session per broker) and the metadata that its producers, consumers and admin share.
 * `close()` closes everything made from it and releases every timer and socket.
 */
export class Millrace {
  readonly #cluster: Cluster;
  readonly #retry: RetryOptions;
  readonly #logger: Logger;
  readonly #made = new Set<{ close(): Promise<void> }>();

  constructor(options: ClientOptionsInput) {
    const parsed = parseOptions(ClientOptionsSchema, options, 'client options');
    this.#retry = parsed.retry;
    const sink: LogSink = parsed.logger ?? stderrSink;
    this.#logger = createLogger(parsed.logLevel, sink, parsed.clientId);
    this.#cluster = new Cluster({
      bootstrap: parsed.bootstrap,
      clientId: parsed.clientId,
      token: parsed.token,
      requestTimeoutMs: parsed.requestTimeoutMs,
      connectTimeoutMs: parsed.connectTimeoutMs,
      metadataMaxAgeMs: parsed.metadataMaxAgeMs,
      pingIntervalMs: parsed.pingIntervalMs,
      pingTimeoutMs: parsed.pingTimeoutMs,
      retry: parsed.retry,
      logger: this.#logger.child('cluster'),
    });
  }

  producer(options: ProducerOptionsInput = {}): Producer {
    const parsed = parseOptions(ProducerOptionsSchema, options, 'producer options');
    const producer = new Producer(
      this.#cluster,
      { ...parsed, partitioner: parsed.partitioner as Partitioner | undefined },
      withOverride(this.#retry, parsed.retry),
      this.#logger.child('producer'),
    );
    return this.#track(producer);
  }

  consumer(options: ConsumerOptionsInput = {}): Consumer {
    const parsed = parseOptions(ConsumerOptionsSchema, options, 'consumer options');
    return this.#track(
      new Consumer(this.#cluster, parsed, withOverride(this.#retry, parsed.retry), this.#logger.child('consumer')),
    );
  }

  admin(options: AdminOptions = {}): Admin {
    return new Admin(this.#cluster, this.#retry, options);
  }

  /** Asks for fresh metadata now (it is otherwise refreshed on its maximum age and after errors). */
  async refreshMetadata(topics?: readonly string[]): Promise<void> {
    await this.#cluster.refresh(topics);
  }

  /** The brokers the client knows, from the last metadata answer. */
  brokers(): { brokerId: number; origin: string; rack: string | null }[] {
    return this.#cluster.metadata.brokers();
  }

  /** Closes every producer (flushing it), consumer and connection made from this client. */
  async close(): Promise<void> {
    await Promise.all([...this.#made].map((made) => made.close().catch(() => undefined)));
    this.#made.clear();
    await this.#cluster.close();
  }

  /** Remembers `made` until it is closed, so that `close()` closes it; closing forgets it. */
  #track<T extends { close(): Promise<void> }>(made: T): T {
    const close = made.close.bind(made);
    this.#made.add(made);
    made.close = async () => {
      try {
        await close();
      } finally {
        this.#made.delete(made);
      }
    };
    return made;
  }
}
