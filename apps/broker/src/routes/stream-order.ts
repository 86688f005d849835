/** What StreamOrder needs of a request: its connection (HTTP/2 session) and its close. */
interface OrderedRequest {
  readonly connection: object | undefined;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Produce requests of one HTTP/2 connection are appended in the order the client opened them, as
 * Kafka handles one connection's requests in order. HTTP/2 streams are independent: a client
 * with several produce requests in flight (an idempotent producer may have five per partition)
 * sends their bodies interleaved, and a later, smaller request can finish arriving first. Without
 * this, its batches would reach the log before the earlier request's, and the leader would refuse
 * them as out of sequence (or, for plain producers, reorder the partition).
 *
 * A request takes a ticket when its headers arrive (`take`, as the route's `opened` hook: streams
 * open in the client's order) and waits for its turn before it starts its appends (`turn`); it gives the
 * turn on (`release`) as soon as its appends are queued, not when they are acknowledged, so
 * acks=all waits still overlap. A request that ends without reaching its handler (a body over the
 * limit, a cancelled stream) releases its ticket when its stream closes, so nothing waits on it
 * for ever. Requests without an HTTP/2 session (fastify's inject in tests) are not ordered.
 */
export class StreamOrder {
  readonly #sessions = new WeakMap<object, SessionTurns>();
  readonly #tickets = new WeakMap<OrderedRequest, Ticket>();

  /** Gives `request` its place among its connection's produce requests. */
  take(request: OrderedRequest): void {
    const session = request.connection;
    if (session === undefined) return;
    let turns = this.#sessions.get(session);
    if (turns === undefined) {
      turns = new SessionTurns();
      this.#sessions.set(session, turns);
    }
    const ticket = turns.issue();
    this.#tickets.set(request, ticket);
    request.once('close', () => ticket.release());
  }

  /** Resolves when every earlier request of the connection has released its turn. */
  turn(request: OrderedRequest): Promise<void> | undefined {
    return this.#tickets.get(request)?.ready;
  }

  /** This request's appends are queued: the next request of its connection may go. Idempotent. */
  release(request: OrderedRequest): void {
    this.#tickets.get(request)?.release();
  }
}

interface Ticket {
  readonly ready: Promise<void> | undefined;
  release(): void;
}

class SessionTurns {
  #issued = 0;
  /** Tickets below this have all been released. */
  #served = 0;
  readonly #released = new Set<number>();
  readonly #waiting = new Map<number, () => void>();

  issue(): Ticket {
    const number = this.#issued++;
    let ready: Promise<void> | undefined;
    if (number > this.#served) {
      ready = new Promise<void>((resolve) => this.#waiting.set(number, resolve));
    }
    let released = false;
    return {
      ready,
      release: () => {
        if (released) return;
        released = true;
        this.#released.add(number);
        while (this.#released.delete(this.#served)) {
          this.#served++;
          const wake = this.#waiting.get(this.#served);
          if (wake !== undefined) {
            this.#waiting.delete(this.#served);
            wake();
          }
        }
      },
    };
  }
}
