import { describe, expect, it } from 'vitest';
import { PRODUCER_EPOCH_MAX, ProducerIds } from '../../src/producers/producer-ids.js';

describe('ProducerIds', () => {
  it('hands out the ids of a block one by one, asking the controller once per block, even when asked concurrently', async () => {
    const blocks: bigint[] = [];
    const ids = new ProducerIds(async () => {
      const first = BigInt(blocks.length * 1000);
      blocks.push(first);
      return { firstProducerId: first, count: 3 };
    });
    const got = await Promise.all(Array.from({ length: 7 }, () => ids.init()));
    expect(got.map((g) => g.producerId).sort((a, b) => Number(a - b))).toEqual([
      0n,
      1n,
      2n,
      1000n,
      1001n,
      1002n,
      2000n,
    ]);
    expect(got.every((g) => g.producerEpoch === 0)).toBe(true);
    expect(blocks).toHaveLength(3);
  });

  it('a producer that asks again with its id gets the next epoch; past the int16 range, a new id', async () => {
    const ids = new ProducerIds(async () => ({ firstProducerId: 500n, count: 10 }));
    expect(await ids.init({ producerId: 42n, producerEpoch: 3 })).toEqual({ producerId: 42n, producerEpoch: 4 });
    expect(await ids.init({ producerId: 42n, producerEpoch: PRODUCER_EPOCH_MAX })).toEqual({
      producerId: 500n,
      producerEpoch: 0,
    });
  });

  it('a failed allocation fails the call and the next call asks again', async () => {
    let calls = 0;
    const ids = new ProducerIds(async () => {
      calls++;
      if (calls === 1) throw new Error('no controller');
      return { firstProducerId: 10n, count: 1 };
    });
    await expect(ids.init()).rejects.toThrow('no controller');
    expect(await ids.init()).toEqual({ producerId: 10n, producerEpoch: 0 });
  });
});
