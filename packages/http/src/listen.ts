import type { AddressInfo } from 'node:net';
import { MillraceError } from '@millrace/protocol';

export interface ListenOptions {
  readonly host: string;
  /** 0 asks the operating system for a free port; the bound port comes back. */
  readonly port: number;
}

export interface BoundAddress {
  readonly host: string;
  readonly port: number;
  /** `http://host:port`, ready for `createH2Client`. */
  readonly origin: string;
}

/** What `listen` needs of a server; any fastify instance has it. */
export interface Listenable {
  listen(options: { host: string; port: number }): Promise<string>;
  readonly server: { address(): AddressInfo | string | null };
}

/** Why listening failed, by the errno Node reports, in words an operator can act on. */
const listenFailures: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (is another node running?)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address',
};

/**
 * Starts listening. A port that is taken, forbidden or on an address the machine lacks is an
 * operating condition, not a bug: it becomes INVALID_CONFIG naming the address, so `main.ts` can
 * print one clear line instead of a stack trace. The caller still owns the server and closes it.
 */
export async function listen(app: Listenable, { host, port }: ListenOptions): Promise<BoundAddress> {
  try {
    await app.listen({ host, port });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const reason = code === undefined ? undefined : listenFailures[code];
    if (reason === undefined) throw error;
    throw new MillraceError('INVALID_CONFIG', `Cannot listen on ${hostPort(host, port)}: ${reason}.`, {
      cause: error,
      details: { host, port, errno: code },
    });
  }
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    throw new Error(`listen: expected a TCP address after listening, got ${String(address)}`);
  }
  return { host: address.address, port: address.port, origin: `http://${hostPort(address.address, address.port)}` };
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
