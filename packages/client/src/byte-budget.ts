import { MillraceError } from '@millrace/protocol';

interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * A bound on bytes held (a producer's unsent records, a consumer's fetched but unread batches):
 * `acquire` waits, first come first served, until the bytes fit, so memory never grows without
 * end. A request larger than the whole budget is refused rather than waited for forever; `close`
 * fails every waiter.
 */
export class ByteBudget {
  readonly capacity: number;
  #used = 0;
  readonly #waiters: Waiter[] = [];
  #closedWith: unknown;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  get used(): number {
    return this.#used;
  }

  /** Whether `bytes` fit now, with no one waiting before. */
  tryAcquire(bytes: number): boolean {
    if (this.#waiters.length > 0 || this.#used + bytes > this.capacity) return false;
    this.#used += bytes;
    return true;
  }

  acquire(bytes: number, what: string): Promise<void> {
    if (this.#closedWith !== undefined) return Promise.reject(this.#closedWith);
    if (bytes > this.capacity) {
      return Promise.reject(
        new MillraceError(
          'RECORD_LIST_TOO_LARGE',
          `${what} needs ${bytes} bytes, more than the whole buffer of ${this.capacity} bytes.`,
          { details: { bytes, capacity: this.capacity } },
        ),
      );
    }
    if (this.tryAcquire(bytes)) return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ bytes, resolve, reject }));
  }

  /**
   * Counts bytes already held (a fetch answer that arrived), even past the capacity: they are in
   * memory either way. The holder stops asking for more while `used` is over capacity.
   */
  add(bytes: number): void {
    this.#used += bytes;
  }

  release(bytes: number): void {
    this.#used -= bytes;
    if (this.#used < 0) throw new Error(`released ${-this.#used} bytes more than were acquired`);
    while (this.#waiters.length > 0) {
      const next = this.#waiters[0] as Waiter;
      if (this.#used + next.bytes > this.capacity) break;
      this.#waiters.shift();
      this.#used += next.bytes;
      next.resolve();
    }
  }

  close(error: unknown): void {
    this.#closedWith = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}
