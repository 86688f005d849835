import { join } from 'node:path';
import { requestJson } from '@millrace/http';
import { BrokerHeartbeatResponseSchema, BrokerRegistrationResponseSchema, Headers } from '@millrace/protocol';
import type { Client } from 'undici';

export { freePorts, killHard, type Proc, spawnNode, stop, waitFor } from '@millrace/test-kit';

/** Controller processes in a test: their arguments, and a fake broker to register with them. */
export interface ControllerArgs {
  readonly id: number;
  readonly ports: readonly number[];
  readonly root: string;
  readonly clusterId: string;
  readonly adminToken: string;
  readonly clusterSecret: string;
  readonly initialize: boolean;
}

/** The command line of controller `id` of a quorum whose voter i listens on 127.0.0.1:ports[i-1]. */
export function controllerArgs(options: ControllerArgs): string[] {
  const voters = options.ports.map((port, i) => `${i + 1}@127.0.0.1:${port}`).join(',');
  return [
    ...['--node-id', String(options.id), '--cluster-id', options.clusterId],
    ...['--listen', `127.0.0.1:${options.ports[options.id - 1]}`, '--voters', voters],
    ...['--data-dir', join(options.root, `c${options.id}`), '--admin-token', options.adminToken],
    ...['--cluster-secret', options.clusterSecret, '--log-level', 'warn'],
    ...(options.initialize ? ['--initialize'] : []),
  ];
}

/** A broker played by a test: registers with the controller behind `client` and returns its epoch. */
export async function registerFakeBroker(
  client: Client,
  options: { clusterId: string; clusterSecret: string; brokerId: number },
): Promise<number> {
  const { brokerEpoch } = await requestJson(client, {
    method: 'POST',
    path: '/v1/brokers/register',
    headers: { [Headers.clusterSecret]: options.clusterSecret },
    body: {
      clusterId: options.clusterId,
      brokerId: options.brokerId,
      incarnationId: `00000000-0000-4000-9000-${String(options.brokerId).padStart(12, '0')}`,
      endpoint: { host: '127.0.0.1', port: 20_000 + options.brokerId },
      rack: null,
    },
    responseSchema: BrokerRegistrationResponseSchema,
    timeoutMs: 5000,
  });
  return brokerEpoch;
}

/** One heartbeat of a test's broker, reporting `metadataOffset` as applied. */
export async function heartbeatFakeBroker(
  client: Client,
  options: { clusterSecret: string; brokerId: number; brokerEpoch: number | undefined; metadataOffset: number },
): Promise<void> {
  await requestJson(client, {
    method: 'POST',
    path: '/v1/brokers/heartbeat',
    headers: { [Headers.clusterSecret]: options.clusterSecret },
    body: {
      brokerId: options.brokerId,
      brokerEpoch: options.brokerEpoch,
      metadataOffset: options.metadataOffset,
      wantFence: false,
      wantShutDown: false,
    },
    responseSchema: BrokerHeartbeatResponseSchema,
    timeoutMs: 2000,
  });
}
