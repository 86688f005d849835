import { MetadataImage } from '@millrace/metadata';
import { type MetadataRecord, type MetadataStreamFrame, MetadataStreamFrameSchema } from '@millrace/protocol';
import type { LogIndex } from '@millrace/raft';
import { describe, expect, it } from 'vitest';
import { encodeRecordBatchEntry, MetadataStateMachine } from '../src/metadata/state-machine.js';
import { metadataStream } from '../src/metadata/stream.js';

const register = (brokerId: number): MetadataRecord => ({
  type: 'register-broker',
  version: 1,
  brokerId,
  brokerEpoch: brokerId,
  incarnationId: `00000000-0000-4000-9000-${brokerId.toString(16).padStart(12, '0')}`,
  endpoint: { host: '127.0.0.1', port: 9000 + brokerId },
  rack: null,
});

function applyAt(machine: MetadataStateMachine, index: number, records: MetadataRecord[]): void {
  machine.apply(encodeRecordBatchEntry(records), index as LogIndex);
}

/** Collects frames until `done` says so (or the bounded wait runs out). */
async function collect(
  stream: AsyncGenerator<MetadataStreamFrame>,
  done: (frames: MetadataStreamFrame[]) => boolean,
  whileWaiting?: () => void,
): Promise<MetadataStreamFrame[]> {
  const frames: MetadataStreamFrame[] = [];
  const deadline = Date.now() + 5000;
  for await (const frame of stream) {
    expect(MetadataStreamFrameSchema.safeParse(frame).success).toBe(true);
    frames.push(frame);
    whileWaiting?.();
    if (done(frames) || Date.now() > deadline) break;
  }
  return frames;
}

/** What a broker does with the frames: rebuild the image, checking that offsets never go back or repeat. */
function replay(frames: readonly MetadataStreamFrame[]): MetadataImage {
  let image = new MetadataImage();
  let last = -1;
  for (const frame of frames) {
    if (frame.kind === 'snapshot') {
      image = MetadataImage.fromSnapshot(frame.offset, frame.records);
      last = frame.offset;
    } else if (frame.kind === 'batch') {
      expect(frame.offset).toBeGreaterThan(last);
      for (const record of frame.records) image.applyUnchecked(frame.offset, record);
      last = frame.offset;
    }
  }
  return image;
}

describe('metadata stream', () => {
  it('serves the history, then new batches as they apply, then heartbeats when idle', async () => {
    const machine = new MetadataStateMachine();
    applyAt(machine, 1, [register(1)]);
    applyAt(machine, 3, [register(2), register(3)]);
    const controller = new AbortController();
    let applied = false;
    const frames = await collect(
      metadataStream(machine, {
        fromOffset: 0,
        heartbeatIntervalMs: 20,
        controllerEpoch: () => 7,
        signal: controller.signal,
      }),
      (f) => f.filter((x) => x.kind === 'heartbeat').length === 2,
      () => {
        if (!applied) {
          applied = true;
          applyAt(machine, 5, [register(4)]);
        }
      },
    );
    controller.abort();
    expect(frames.map((f) => (f.kind === 'batch' ? f.offset : f.kind))).toEqual(['heartbeat', 1, 3, 5, 'heartbeat']);
    // The first frame says how far the committed log went when the reader connected.
    expect(frames[0]).toEqual({ kind: 'heartbeat', committedOffset: 3, controllerEpoch: 7 });
    expect(frames.at(-1)).toEqual({ kind: 'heartbeat', committedOffset: 5, controllerEpoch: 7 });
    expect(
      replay(frames)
        .brokers()
        .map((b) => b.brokerId),
    ).toEqual([1, 2, 3, 4]);
  });

  it('resumes after the last offset a broker applied, without duplicates', async () => {
    const machine = new MetadataStateMachine();
    for (let i = 1; i <= 5; i++) applyAt(machine, i, [register(i)]);
    const controller = new AbortController();
    const frames = await collect(
      metadataStream(machine, { fromOffset: 4, controllerEpoch: () => 1, signal: controller.signal }),
      (f) => f.length === 3,
    );
    controller.abort();
    expect(frames.map((f) => (f.kind === 'batch' ? f.offset : f.kind))).toEqual(['heartbeat', 4, 5]);
  });

  it('sends a snapshot to a broker further behind than the history held', async () => {
    const machine = new MetadataStateMachine({ historyBatchesMax: 2 });
    for (let i = 1; i <= 6; i++) applyAt(machine, i, [register(i)]);
    const controller = new AbortController();
    const frames = await collect(
      metadataStream(machine, { fromOffset: 1, controllerEpoch: () => 1, signal: controller.signal }),
      (f) => f.length === 2,
    );
    controller.abort();
    expect(frames[1]).toMatchObject({ kind: 'snapshot', offset: 6 });
    expect(replay(frames).brokers()).toHaveLength(6);
  });

  it('ends when aborted, and cuts off a reader that falls too far behind', async () => {
    const machine = new MetadataStateMachine();
    const controller = new AbortController();
    const stream = metadataStream(machine, {
      fromOffset: 0,
      heartbeatIntervalMs: 10_000,
      controllerEpoch: () => 1,
      queuedBatchesMax: 2,
      signal: controller.signal,
    });
    const first = stream.next();
    for (let i = 1; i <= 5; i++) applyAt(machine, i, [register(i)]);
    // The reader is parked; five batches arrive at once, more than it may queue: it is cut off.
    const frames: MetadataStreamFrame[] = [];
    for (let next = await first; !next.done; next = await stream.next()) frames.push(next.value);
    expect(frames.length).toBeLessThan(5);

    const idle = metadataStream(machine, {
      fromOffset: 6,
      heartbeatIntervalMs: 10_000,
      controllerEpoch: () => 1,
      signal: controller.signal,
    });
    expect((await idle.next()).value).toMatchObject({ kind: 'heartbeat', committedOffset: 5 });
    const pending = idle.next();
    controller.abort();
    expect((await pending).done).toBe(true);
  });
});
