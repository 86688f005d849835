import { createH2Client } from '@millrace/http';
import { ContentType, Headers, MillraceError } from '@millrace/protocol';
import type { Client } from 'undici';

export interface ForwardedAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Passes an admin request on to another controller (the active one) and hands back its answer as
 * it is, status and typed error body included. Only the caller's credentials and the JSON body go
 * along; nothing else of the original request does.
 */
export class Forwarder {
  readonly #clients = new Map<number, Client>();
  readonly #origins: ReadonlyMap<number, string>;
  readonly #timeoutMs: number;

  constructor(origins: ReadonlyMap<number, string>, timeoutMs = 10_000) {
    this.#origins = origins;
    this.#timeoutMs = timeoutMs;
  }

  async forward(
    to: number,
    request: { method: string; url: string; body: unknown; authorization: string | undefined },
  ): Promise<ForwardedAnswer> {
    const origin = this.#origins.get(to);
    if (origin === undefined) throw new MillraceError('NOT_CONTROLLER', `Controller ${to} has no known address.`);
    let client = this.#clients.get(to);
    if (client === undefined) {
      client = createH2Client(origin);
      this.#clients.set(to, client);
    }
    const headers: Record<string, string> = { accept: ContentType.json };
    if (request.authorization !== undefined) headers[Headers.authorization] = request.authorization;
    if (request.body !== undefined) headers['content-type'] = ContentType.json;
    try {
      const response = await client.request({
        method: request.method as 'GET',
        path: request.url,
        headers,
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        // Independent HTTP/2 streams: one slow call must not hold the others (see @millrace/http's exchange).
        idempotent: true,
        blocking: false,
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
      const text = await response.body.text();
      return { status: response.statusCode, body: text.length === 0 ? undefined : JSON.parse(text) };
    } catch (error) {
      throw new MillraceError('NOT_CONTROLLER', `Controller ${to} (${origin}) did not answer the forwarded request.`, {
        cause: error,
        details: { activeControllerId: to },
      });
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.#clients.values()].map((client) => client.destroy().catch(() => undefined)));
    this.#clients.clear();
  }
}
