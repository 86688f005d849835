import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { StreamOrder } from '../../src/routes/stream-order.js';

// Produce requests of one HTTP/2 connection start their appends in the order they were opened,
// whatever order their bodies finish arriving in.

function request(session: object) {
  return Object.assign(new EventEmitter(), { connection: session });
}

describe('StreamOrder', () => {
  it('a later request whose body arrived first waits for the earlier ones; turns pass on release', async () => {
    const order = new StreamOrder();
    const session = {};
    const [a, b, c] = [request(session), request(session), request(session)];
    for (const r of [a, b, c]) order.take(r);
    const started: string[] = [];
    const run = async (name: string, r: ReturnType<typeof request>) => {
      await order.turn(r);
      started.push(name);
      order.release(r);
    };
    const late = [run('c', c), run('b', b)];
    await Promise.resolve();
    expect(started).toEqual([]);
    await run('a', a);
    await Promise.all(late);
    expect(started).toEqual(['a', 'b', 'c']);
  });

  it('a request that never reaches its handler releases its turn when its stream closes', async () => {
    const order = new StreamOrder();
    const session = {};
    const [aborted, next] = [request(session), request(session)];
    order.take(aborted);
    order.take(next);
    let ran = false;
    const waiting = (async () => {
      await order.turn(next);
      ran = true;
    })();
    await Promise.resolve();
    expect(ran).toBe(false);
    aborted.emit('close');
    await waiting;
    expect(ran).toBe(true);
  });

  it('connections are independent, release is idempotent, and requests without a session are not ordered', async () => {
    const order = new StreamOrder();
    const [one, two] = [request({}), request({})];
    order.take(one);
    order.take(two);
    await order.turn(two); // another connection: no wait
    order.release(one);
    order.release(one);
    one.emit('close');
    const injected = Object.assign(new EventEmitter(), { connection: undefined });
    order.take(injected);
    expect(order.turn(injected)).toBeUndefined();
  });
});
