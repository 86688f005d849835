import { MillraceError } from '@millrace/protocol';

/** Producer epochs are int16 in the record batch. */
export const PRODUCER_EPOCH_MAX = 32_767;

export interface ProducerIdBlock {
  readonly firstProducerId: bigint;
  readonly count: number;
}

export interface ProducerIdentity {
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

/**
 * Hands out producer ids (Kafka's InitProducerId for idempotent producers). Ids come in blocks
 * that the active controller allocates through the metadata log (KIP-730), so no two brokers
 * ever give the same id, and a broker asks the controller once per block rather than once per
 * producer. A producer that asks again with the id it holds gets the next epoch of it (KIP-360),
 * which restarts its sequences; when the epoch would pass the int16 range it gets a new id.
 */
export class ProducerIds {
  readonly #allocate: () => Promise<ProducerIdBlock>;
  #next = 0n;
  #end = 0n;
  #fetching: Promise<void> | undefined;

  constructor(allocate: () => Promise<ProducerIdBlock>) {
    this.#allocate = allocate;
  }

  async init(previous?: { readonly producerId: bigint; readonly producerEpoch: number }): Promise<ProducerIdentity> {
    if (previous !== undefined) {
      if (previous.producerId < 0n || previous.producerEpoch < 0) {
        throw new MillraceError('INVALID_REQUEST', 'producerId and producerEpoch must both be given and non-negative.');
      }
      if (previous.producerEpoch < PRODUCER_EPOCH_MAX) {
        return { producerId: previous.producerId, producerEpoch: previous.producerEpoch + 1 };
      }
    }
    return { producerId: await this.#nextId(), producerEpoch: 0 };
  }

  async #nextId(): Promise<bigint> {
    while (this.#next >= this.#end) {
      this.#fetching ??= this.#allocate()
        .then((block) => {
          if (block.count < 1 || block.firstProducerId < 0n) {
            throw new MillraceError('UNKNOWN_SERVER_ERROR', `The controller allocated an empty producer id block.`);
          }
          this.#next = block.firstProducerId;
          this.#end = block.firstProducerId + BigInt(block.count);
        })
        .finally(() => {
          this.#fetching = undefined;
        });
      await this.#fetching;
    }
    const id = this.#next;
    this.#next += 1n;
    return id;
  }
}
