import { createH2Client, requestJson } from '@millrace/http';
import { type Endpoint, Headers, isMillraceError, MillraceError } from '@millrace/protocol';
import type { Client } from 'undici';
import { z } from 'zod';

export interface ControllerClientOptions {
  readonly controllers: readonly Endpoint[];
  readonly clusterSecret: string;
  /** Deadline of one request to one controller. Default 2000 ms. */
  readonly requestTimeoutMs?: number;
}

const RedirectSchema = z.object({ endpoint: z.object({ host: z.string(), port: z.number() }) });

/**
 * Calls to the active controller. The broker knows a list of controller addresses, not which one
 * is active: it asks the one that answered last, follows NOT_CONTROLLER's pointer to the active
 * one, and moves on to the next address when one does not answer, until `deadlineMs` has passed.
 * Other typed errors (a stale epoch, a bad request) come back to the caller at once.
 */
export class ControllerClient {
  readonly #options: ControllerClientOptions;
  readonly #clients = new Map<string, Client>();
  #current: string;
  #closed = false;

  constructor(options: ControllerClientOptions) {
    if (options.controllers.length === 0) throw new MillraceError('INVALID_CONFIG', 'No controller addresses given.');
    this.#options = options;
    this.#current = originOf(options.controllers[0] as Endpoint);
  }

  async call<S extends z.ZodType>(
    path: string,
    body: unknown,
    responseSchema: S,
    deadlineMs = 10_000,
  ): Promise<z.output<S>> {
    const deadline = Date.now() + deadlineMs;
    const origins = this.#options.controllers.map(originOf);
    let lastError: unknown;
    for (let attempt = 0; !this.#closed; attempt++) {
      const origin = this.#current;
      try {
        return await requestJson(this.#client(origin), {
          method: 'POST',
          path,
          body,
          headers: { [Headers.clusterSecret]: this.#options.clusterSecret },
          responseSchema,
          timeoutMs: Math.max(1, Math.min(this.#options.requestTimeoutMs ?? 2000, deadline - Date.now())),
        });
      } catch (error) {
        lastError = error;
        if (isMillraceError(error, 'NOT_CONTROLLER')) {
          const redirect = RedirectSchema.safeParse(error.details);
          if (redirect.success) this.#current = originOf(redirect.data.endpoint);
          else this.#current = origins[(origins.indexOf(origin) + 1) % origins.length] as string;
        } else if (
          isMillraceError(error) &&
          (error.code === 'NETWORK_EXCEPTION' || error.code === 'REQUEST_TIMED_OUT')
        ) {
          this.#current = origins[(origins.indexOf(origin) + 1) % origins.length] as string;
        } else {
          throw error;
        }
      }
      if (Date.now() >= deadline) break;
      // Back off a little once every address has been tried: an election may be under way.
      if (attempt > 0 && attempt % origins.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw lastError instanceof Error
      ? lastError
      : new MillraceError('NOT_CONTROLLER', 'No active controller could be reached.');
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#clients.values()].map((client) => client.destroy().catch(() => undefined)));
    this.#clients.clear();
  }

  #client(origin: string): Client {
    let client = this.#clients.get(origin);
    if (client === undefined) {
      client = createH2Client(origin, { connectTimeoutMs: 1000 });
      this.#clients.set(origin, client);
    }
    return client;
  }
}

export function originOf(endpoint: Endpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `http://${host}:${endpoint.port}`;
}
