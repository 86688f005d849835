import type { MetadataStreamFrame } from '@millrace/protocol';
import type { AppliedBatch, MetadataStateMachine } from './state-machine.js';

export interface MetadataStreamOptions {
  /** The first offset the reader still needs (0 for a new broker). */
  readonly fromOffset: number;
  /** A heartbeat frame is sent after this long without a batch. Default 1000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** The controller epoch (Raft term) to put in heartbeats. */
  readonly controllerEpoch: () => number;
  /** Batches a reader may fall behind by before the stream gives up on it. Default 10,000. */
  readonly queuedBatchesMax?: number;
  readonly signal: AbortSignal;
}

/**
 * The committed metadata log as a sequence of frames for one broker: a heartbeat naming the
 * committed offset (so the broker knows when it has caught up), a snapshot when the broker is new
 * or further behind than the history held, then every batch from where it stands,
 * in order, with no gap and no duplicate, then each new batch as it is applied, and a heartbeat
 * when idle. Any controller can serve it, since every controller applies the same committed log.
 *
 * A reader that falls more than `queuedBatchesMax` behind is cut off (the iterator ends); it
 * reconnects from its last offset and gets a snapshot if it must. Memory per reader stays bounded.
 */
export async function* metadataStream(
  stateMachine: MetadataStateMachine,
  options: MetadataStreamOptions,
): AsyncGenerator<MetadataStreamFrame> {
  const queue: AppliedBatch[] = [];
  const queuedMax = options.queuedBatchesMax ?? 10_000;
  let wake: (() => void) | undefined;
  let overflowed = false;
  const unsubscribe = stateMachine.onApply((batch) => {
    if (queue.length >= queuedMax) overflowed = true;
    else queue.push(batch);
    wake?.();
  });
  const onAbort = () => wake?.();
  options.signal.addEventListener('abort', onAbort);
  try {
    // Subscribed before reading the history, so nothing applied in between is missed; the
    // offset check below drops what the history already covered.
    let last = options.fromOffset - 1;
    // First, how far the committed log goes now: the reader is caught up once it has applied this far.
    const committed = stateMachine.image.offset;
    if (committed >= 0)
      yield { kind: 'heartbeat', committedOffset: committed, controllerEpoch: options.controllerEpoch() };
    const history = stateMachine.batchesAfter(last);
    if (history === undefined) {
      const image = stateMachine.image;
      yield { kind: 'snapshot', offset: image.offset, records: image.toRecords() };
      last = image.offset;
    } else {
      for (const batch of history) yield batchFrame(batch);
      last = history[history.length - 1]?.offset ?? last;
    }
    const heartbeatMs = options.heartbeatIntervalMs ?? 1000;
    while (!options.signal.aborted && !overflowed) {
      const fresh = queue.splice(0).filter((batch) => batch.offset > last);
      if (fresh.length > 0) {
        for (const batch of fresh) yield batchFrame(batch);
        last = (fresh[fresh.length - 1] as AppliedBatch).offset;
        continue;
      }
      const woke = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), heartbeatMs);
        wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      wake = undefined;
      if (!woke && !options.signal.aborted) {
        yield { kind: 'heartbeat', committedOffset: Math.max(0, last), controllerEpoch: options.controllerEpoch() };
      }
    }
  } finally {
    unsubscribe();
    options.signal.removeEventListener('abort', onAbort);
  }
}

function batchFrame(batch: AppliedBatch): MetadataStreamFrame {
  return { kind: 'batch', offset: batch.offset, records: [...batch.wire] };
}
