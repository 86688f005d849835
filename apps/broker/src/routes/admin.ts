import { createH2Client, type MillraceServer } from '@millrace/http';
import { ContentType, type Endpoint, Headers, MillraceError, Routes } from '@millrace/protocol';
import type { Client } from 'undici';
import { originOf } from '../cluster/controller-client.js';

/** Every admin call, as the controllers serve it: a broker relays each one. */
const ADMIN_ROUTES: readonly { readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE'; readonly url: string }[] = [
  { method: 'GET', url: Routes.cluster },
  { method: 'GET', url: Routes.clusterQuorum },
  { method: 'GET', url: Routes.clusterHealth },
  { method: 'GET', url: Routes.clusterConfigs },
  { method: 'PATCH', url: Routes.clusterConfigs },
  { method: 'GET', url: Routes.brokers },
  { method: 'GET', url: Routes.broker },
  { method: 'GET', url: Routes.topics },
  { method: 'POST', url: Routes.topics },
  { method: 'GET', url: Routes.topic },
  { method: 'DELETE', url: Routes.topic },
  { method: 'POST', url: Routes.topicPartitions },
  { method: 'GET', url: Routes.topicConfigs },
  { method: 'PATCH', url: Routes.topicConfigs },
  { method: 'POST', url: Routes.preferredElection },
];

/**
 * The admin API on a broker, so that one bootstrap address is enough for everything: each call
 * is relayed to a controller with the caller's credentials and JSON body, and the controller's
 * answer (status and body, typed errors included) comes back unchanged. The controller checks
 * the admin token and, if it is not the active one, relays writes to the one that is. A controller
 * that does not answer is skipped for the next.
 */
export function registerAdminProxy(
  app: MillraceServer,
  controllers: readonly Endpoint[],
  timeoutMs = 15_000,
): { close(): Promise<void> } {
  const origins = controllers.map(originOf);
  const clients = new Map<string, Client>();
  let next = 0;
  const client = (origin: string) => {
    let found = clients.get(origin);
    if (found === undefined) {
      found = createH2Client(origin, { connectTimeoutMs: 1000 });
      clients.set(origin, found);
    }
    return found;
  };

  for (const route of ADMIN_ROUTES) {
    app.route({
      method: route.method,
      url: route.url,
      handler: async (request, reply) => {
        const headers: Record<string, string> = { accept: ContentType.json };
        const authorization = request.headers[Headers.authorization];
        if (typeof authorization === 'string') headers[Headers.authorization] = authorization;
        const body = request.body === undefined || request.body === null ? undefined : JSON.stringify(request.body);
        if (body !== undefined) headers['content-type'] = ContentType.json;
        const deadline = Date.now() + timeoutMs;
        let lastError: unknown;
        for (let attempt = 0; attempt < origins.length && Date.now() < deadline; attempt++) {
          const origin = origins[(next + attempt) % origins.length] as string;
          try {
            const response = await client(origin).request({
              method: route.method,
              path: request.url,
              headers,
              body,
              // Independent HTTP/2 streams: one slow call must not hold the others (see @millrace/http's exchange).
              idempotent: true,
              blocking: false,
              signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())),
            });
            const text = await response.body.text();
            next = (next + attempt) % origins.length;
            reply.code(response.statusCode).type(ContentType.json);
            return reply.send(text.length === 0 ? undefined : text);
          } catch (error) {
            lastError = error;
            // A write that may have reached a controller is not sent again to another.
            if (route.method !== 'GET' && !neverSent(error)) break;
          }
        }
        throw new MillraceError('NOT_CONTROLLER', 'No controller answered the admin request; retry shortly.', {
          cause: lastError,
        });
      },
    });
  }
  return {
    close: async () => {
      await Promise.all([...clients.values()].map((c) => c.destroy().catch(() => undefined)));
      clients.clear();
    },
  };
}

/** Errors that prove the request never reached the controller (no connection was made). */
function neverSent(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return code === 'ECONNREFUSED' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'EHOSTUNREACH';
}
