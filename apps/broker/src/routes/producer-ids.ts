import { type AuthHook, type MillraceServer, parseBody } from '@millrace/http';
import { InitProducerIdRequestSchema, MillraceError, Routes } from '@millrace/protocol';
import type { ProducerIds } from '../producers/producer-ids.js';

export interface ProducerIdRoutesOptions {
  readonly producerIds: ProducerIds;
  /** Set when clients must present a token. */
  readonly auth: AuthHook | undefined;
}

/**
 * POST /v1/producer-id: an idempotent producer's id and epoch (Kafka's InitProducerId). Any
 * broker answers; ids come from blocks the controller allocated to this broker.
 */
export function registerProducerIdRoutes(app: MillraceServer, options: ProducerIdRoutesOptions): void {
  const onRequest = options.auth === undefined ? [] : [options.auth];
  app.post(Routes.initProducerId, { onRequest }, async (request) => {
    const body = parseBody(InitProducerIdRequestSchema, request);
    if ((body.producerId === undefined) !== (body.producerEpoch === undefined)) {
      throw new MillraceError(
        'INVALID_REQUEST',
        'Invalid body: give producerId and producerEpoch together (to bump the epoch of an id held), or neither.',
        { details: { fields: ['body.producerId', 'body.producerEpoch'] } },
      );
    }
    const previous =
      body.producerId === undefined || body.producerEpoch === undefined
        ? undefined
        : { producerId: body.producerId, producerEpoch: body.producerEpoch };
    if (previous !== undefined && previous.producerId < 0n) {
      throw new MillraceError('INVALID_REQUEST', `Invalid body.producerId: ${previous.producerId} is negative.`, {
        details: { fields: ['body.producerId'] },
      });
    }
    const identity = await options.producerIds.init(previous);
    return { producerId: identity.producerId.toString(), producerEpoch: identity.producerEpoch };
  });
}
