import { createServer } from '@millrace/http';
import { afterEach, describe, expect, it } from 'vitest';
import { ProducerIds } from '../../src/producers/producer-ids.js';
import { registerProducerIdRoutes } from '../../src/routes/producer-ids.js';

// POST /v1/producer-id through fastify's inject (no socket); blocks come from a counter standing
// in for the controller, whose allocation is tested in the controller's own suite.
const apps: ReturnType<typeof createServer>[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

function build() {
  let next = 1000n;
  const app = createServer({ logger: false });
  apps.push(app);
  registerProducerIdRoutes(app, {
    producerIds: new ProducerIds(async () => {
      const first = next;
      next += 2n;
      return { firstProducerId: first, count: 2 };
    }),
    auth: undefined,
  });
  return app;
}

async function post(app: ReturnType<typeof build>, body: unknown) {
  const reply = await app.inject({
    method: 'POST',
    url: '/v1/producer-id',
    headers: { 'content-type': 'application/json' },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: reply.statusCode, body: reply.json() as Record<string, unknown> };
}

describe('POST /v1/producer-id', () => {
  it('hands out new ids, and the next epoch of an id held', async () => {
    const app = build();
    expect(await post(app, {})).toEqual({ status: 200, body: { producerId: '1000', producerEpoch: 0 } });
    expect(await post(app, {})).toEqual({ status: 200, body: { producerId: '1001', producerEpoch: 0 } });
    expect(await post(app, {})).toEqual({ status: 200, body: { producerId: '1002', producerEpoch: 0 } });
    expect(await post(app, { producerId: '1000', producerEpoch: 4 })).toEqual({
      status: 200,
      body: { producerId: '1000', producerEpoch: 5 },
    });
  });

  it.each([
    ['an id without an epoch', { producerId: '5' }],
    ['an epoch without an id', { producerEpoch: 1 }],
    ['a negative id', { producerId: '-1', producerEpoch: 0 }],
    ['an id as a number', { producerId: 5, producerEpoch: 0 }],
    ['an epoch past int16', { producerId: '5', producerEpoch: 40_000 }],
    ['an unknown field', { transactionalId: 'tx' }],
    ['not JSON', '{"producerId":'],
    ['an array', []],
  ])('refuses %s with INVALID_REQUEST and hands out nothing', async (_, body) => {
    const app = build();
    const answer = await post(app, body);
    expect(answer.status).toBe(400);
    expect((answer.body.error as { code: string }).code).toBe('INVALID_REQUEST');
    expect(await post(app, {})).toEqual({ status: 200, body: { producerId: '1000', producerEpoch: 0 } });
  });
});
